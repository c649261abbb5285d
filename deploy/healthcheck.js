// Container HEALTHCHECK: the service's liveness endpoint on its ops port. The
// images carry no curl or wget, and Node's fetch is all this needs.
const port = process.env.HTTP_PORT || '8080';
fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) })
  .then((response) => process.exit(response.ok ? 0 : 1))
  .catch(() => process.exit(1));
