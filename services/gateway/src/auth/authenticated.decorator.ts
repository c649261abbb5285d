import { SetMetadata } from '@nestjs/common';

export const AUTHENTICATED = 'chattensor:authenticated';

/** Marks a controller or route as part of the API: it needs a key, or the anonymous tier when that is on. */
export const Authenticated = () => SetMetadata(AUTHENTICATED, true);
