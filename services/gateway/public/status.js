'use strict';
async function refresh() {
  const res = await fetch('/v1/status');
  document.getElementById('status').textContent = JSON.stringify(await res.json(), null, 2);
}
refresh();
setInterval(refresh, 3000);
