'use strict';
// Streams answers from /v1/chat/completions (SSE) into the page; keeps one conversation per tab.
const log = document.getElementById('log');
const form = document.getElementById('composer');
const prompt = document.getElementById('prompt');
const stopButton = document.getElementById('stop');
let conversationId = null;
let controller = null;

function bubble(role, text) {
  const div = document.createElement('div');
  div.className = `msg ${role}`;
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

async function ensureConversation() {
  if (conversationId) return conversationId;
  const res = await fetch('/v1/conversations', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  conversationId = (await res.json()).id;
  return conversationId;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = prompt.value.trim();
  if (!text || controller) return;
  prompt.value = '';
  bubble('user', text);
  const answer = bubble('assistant', '');
  controller = new AbortController();
  stopButton.hidden = false;
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'chattensor', stream: true, conversation_id: await ensureConversation(), messages: [{ role: 'user', content: text }] }),
      signal: controller.signal,
    });
    if (!res.ok) throw new Error((await res.json()).error.message);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        const chunk = JSON.parse(line.slice(6));
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices[0] && chunk.choices[0].delta.content;
        if (delta) answer.textContent += delta;
        if (chunk.chattensor) {
          const m = chunk.chattensor.miner;
          const meta = document.createElement('div');
          meta.className = 'meta';
          meta.textContent = `miner uid ${m.uid} · ${m.hotkey.slice(0, 8)}… · score ${m.score === undefined ? 'n/a' : m.score.toFixed(3)}`;
          answer.appendChild(meta);
        }
      }
    }
  } catch (error) {
    if (error.name !== 'AbortError') answer.textContent += `\n[error: ${error.message}]`;
  } finally {
    controller = null;
    stopButton.hidden = true;
  }
});

stopButton.addEventListener('click', () => controller && controller.abort());
prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});
