export * from './keys/keypair';
export * from './auth/dendrite-auth';
