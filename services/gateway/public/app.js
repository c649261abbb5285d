'use strict';
// The web chat: conversations from /v1/conversations, answers streamed from
// /v1/chat/completions (SSE), each answer labelled with the miner that wrote it.
(() => {
  const $ = (id) => document.getElementById(id);
  const log = $('log');
  const form = $('composer');
  const prompt = $('prompt');
  const sendButton = $('send');
  const stopButton = $('stop');
  const regenerateButton = $('regenerate');
  const list = $('conversations');
  const errorBox = $('error');
  const sidebar = $('sidebar');
  const toggle = $('toggle-sidebar');

  const state = {
    conversationId: null,
    controller: null,
    // Current scores by "uid:hotkey", from /v1/status; refreshed after each answer.
    scores: new Map(),
    // The last exchange as shown: { text, stored } (stored: the gateway saved it, so it can be regenerated in place).
    last: null,
  };

  // An API key, when the operator turned the anonymous tier off (or the user wants their key's conversations).
  const KEY_STORAGE = 'chattensor.apiKey';
  const storedKey = () => localStorage.getItem(KEY_STORAGE) || '';

  async function api(path, options = {}) {
    const auth = storedKey() ? { Authorization: `Bearer ${storedKey()}` } : {};
    const res = await fetch(path, {
      ...options,
      headers: { 'Content-Type': 'application/json', ...auth, ...(options.headers || {}) },
    });
    if (res.status === 401) $('key-settings').open = true;
    if (!res.ok) {
      let message = `${res.status} ${res.statusText}`;
      try {
        message = (await res.json()).error.message;
      } catch {
        // Not an error object: keep the status line.
      }
      const error = new Error(message);
      error.status = res.status;
      throw error;
    }
    return res;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function shortKey(hotkey) {
    return hotkey.length > 12 ? `${hotkey.slice(0, 6)}…${hotkey.slice(-4)}` : hotkey;
  }

  function minerLabel(miner) {
    const score = state.scores.get(`${miner.uid}:${miner.hotkey}`) ?? miner.score;
    const scoreText = typeof score === 'number' ? score.toFixed(3) : 'n/a';
    return `miner uid ${miner.uid} · ${shortKey(miner.hotkey)} · score ${scoreText}`;
  }

  function bubble(role, text) {
    $('empty')?.remove();
    const div = document.createElement('div');
    div.className = `msg ${role}`;
    const body = document.createElement('div');
    body.className = 'text';
    setText(body, role, text);
    div.appendChild(body);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  // Answers are shown as Markdown (safe: see markdown.js), the user's own words as typed; the source is kept.
  function setText(body, role, text) {
    body.dataset.source = text;
    if (role === 'assistant') window.ChatMarkdown.renderMarkdown(body, text);
    else body.textContent = text;
  }

  function setMeta(div, miner) {
    let meta = div.querySelector('.meta');
    if (!meta) {
      meta = document.createElement('div');
      meta.className = 'meta';
      div.appendChild(meta);
    }
    meta.dataset.uid = String(miner.uid);
    meta.dataset.hotkey = miner.hotkey;
    meta.title = miner.hotkey;
    meta.textContent = minerLabel(miner);
  }

  function setNote(div, text) {
    const note = document.createElement('div');
    note.className = 'note';
    note.textContent = text;
    div.appendChild(note);
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    regenerateButton.hidden = busy || !state.last;
  }

  async function refreshScores() {
    try {
      const status = await (await api('/v1/status')).json();
      state.scores = new Map(
        status.miners.filter((m) => m.score !== null).map((m) => [`${m.uid}:${m.hotkey}`, m.score]),
      );
      for (const meta of log.querySelectorAll('.meta')) {
        meta.textContent = minerLabel({ uid: Number(meta.dataset.uid), hotkey: meta.dataset.hotkey });
      }
    } catch {
      // The status page is best effort here; answers keep the score they arrived with.
    }
  }

  async function refreshList() {
    const { data } = await (await api('/v1/conversations')).json();
    list.replaceChildren(
      ...data.map((c) => {
        const li = document.createElement('li');
        li.dataset.id = c.id;
        if (c.id === state.conversationId) li.className = 'current';
        const open = document.createElement('button');
        open.type = 'button';
        open.className = 'open';
        open.textContent = c.title;
        open.addEventListener('click', () => void openConversation(c.id));
        const del = document.createElement('button');
        del.type = 'button';
        del.className = 'delete';
        del.title = 'Delete conversation';
        del.setAttribute('aria-label', `Delete ${c.title}`);
        del.textContent = '×';
        del.addEventListener('click', () => void deleteConversation(c.id));
        li.append(open, del);
        return li;
      }),
    );
  }

  function closeSidebar() {
    sidebar.classList.remove('open');
    toggle.setAttribute('aria-expanded', 'false');
  }

  async function openConversation(id) {
    if (state.controller) return;
    showError('');
    try {
      const conversation = await (await api(`/v1/conversations/${encodeURIComponent(id)}`)).json();
      state.conversationId = id;
      state.last = null;
      $('title').textContent = conversation.title;
      log.replaceChildren();
      let lastUser = null;
      for (const message of conversation.messages) {
        const div = bubble(message.role, message.content);
        if (message.role === 'user') lastUser = message.content;
        if (message.role === 'assistant' && message.miner) setMeta(div, message.miner);
        if (message.role === 'assistant' && message.stopped) setNote(div, 'stopped');
      }
      const tail = conversation.messages[conversation.messages.length - 1];
      if (tail && tail.role === 'assistant' && lastUser !== null)
        state.last = { text: lastUser, stored: true };
      setBusy(false);
      closeSidebar();
      await refreshList();
    } catch (error) {
      showError(error.message);
    }
  }

  async function deleteConversation(id) {
    if (state.controller) return;
    try {
      await api(`/v1/conversations/${encodeURIComponent(id)}`, { method: 'DELETE' });
      if (id === state.conversationId) newChat();
      await refreshList();
    } catch (error) {
      showError(error.message);
    }
  }

  function newChat() {
    if (state.controller) return;
    state.conversationId = null;
    state.last = null;
    $('title').textContent = 'ChatTensor';
    log.replaceChildren();
    showError('');
    setBusy(false);
    closeSidebar();
    for (const li of list.querySelectorAll('li.current')) li.classList.remove('current');
    prompt.focus();
  }

  async function ensureConversation() {
    if (!state.conversationId) {
      const created = await (await api('/v1/conversations', { method: 'POST', body: '{}' })).json();
      state.conversationId = created.id;
    }
    return state.conversationId;
  }

  // Streams one answer into `answer`; resolves 'completed' (the gateway stored it), 'stopped' or 'failed'.
  async function streamAnswer(body, answer) {
    state.controller = new AbortController();
    setBusy(true);
    answer.classList.add('streaming');
    const text = answer.querySelector('.text');
    let completed = false;
    try {
      const res = await api('/v1/chat/completions', {
        method: 'POST',
        body: JSON.stringify({ model: 'chattensor', stream: true, ...body }),
        signal: state.controller.signal,
      });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (!event.startsWith('data: ')) continue;
          if (event === 'data: [DONE]') {
            completed = true;
            continue;
          }
          const chunk = JSON.parse(event.slice(6));
          if (chunk.error) throw new Error(chunk.error.message);
          const delta = chunk.choices[0] && chunk.choices[0].delta.content;
          if (delta) {
            setText(text, 'assistant', text.dataset.source + delta);
            log.scrollTop = log.scrollHeight;
          }
          if (chunk.chattensor && chunk.chattensor.miner) setMeta(answer, chunk.chattensor.miner);
        }
      }
    } catch (error) {
      if (error.name === 'AbortError') {
        setNote(answer, 'stopped');
        return 'stopped';
      }
      showError(error.message);
      return 'failed';
    } finally {
      answer.classList.remove('streaming');
      state.controller = null;
    }
    return completed ? 'completed' : 'failed';
  }

  // The gateway stores a stopped answer (what had arrived) once it sees the
  // connection close; wait until it has, so a regeneration replaces that one.
  async function stoppedAnswerStored(conversationId, question) {
    for (let attempt = 0; attempt < 30; attempt++) {
      try {
        const { messages } = await (
          await api(`/v1/conversations/${encodeURIComponent(conversationId)}`)
        ).json();
        const [asked, answered] = messages.slice(-2);
        if (answered && answered.stopped && asked && asked.role === 'user' && asked.content === question)
          return true;
      } catch {
        // try again below
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }

  async function ask(textToSend, { echo }) {
    showError('');
    if (echo) bubble('user', textToSend);
    const answer = bubble('assistant', '');
    try {
      const conversationId = await ensureConversation();
      const outcome = await streamAnswer(
        { conversation_id: conversationId, messages: [{ role: 'user', content: textToSend }] },
        answer,
      );
      const stored =
        outcome === 'completed' ||
        (outcome === 'stopped' && (await stoppedAnswerStored(conversationId, textToSend)));
      state.last = { text: textToSend, stored };
    } catch (error) {
      showError(error.message);
      state.last = { text: textToSend, stored: false };
    }
    setBusy(false);
    void refreshList().catch(() => undefined);
    void refreshScores();
  }

  async function regenerate() {
    if (!state.last || state.controller) return;
    const last = state.last;
    const answers = log.querySelectorAll('.msg.assistant');
    const previous = answers[answers.length - 1];
    if (!last.stored) {
      // The last answer failed, so the gateway has not stored it: ask the same question again.
      previous?.remove();
      await ask(last.text, { echo: false });
      return;
    }
    showError('');
    const answer = bubble('assistant', '');
    previous?.remove();
    const outcome = await streamAnswer(
      { conversation_id: state.conversationId, regenerate: true, messages: [] },
      answer,
    );
    // A stopped regeneration replaces the stored answer with what it had streamed; a failed one leaves it in place.
    if (outcome === 'stopped') await stoppedAnswerStored(state.conversationId, last.text);
    state.last = { text: last.text, stored: true };
    setBusy(false);
    void refreshScores();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text || state.controller) return;
    prompt.value = '';
    void ask(text, { echo: true });
  });
  stopButton.addEventListener('click', () => state.controller && state.controller.abort());
  regenerateButton.addEventListener('click', () => void regenerate());
  $('new-chat').addEventListener('click', newChat);
  $('api-key').value = storedKey();
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('api-key').value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
    $('key-settings').open = false;
    // Another key owns other conversations.
    newChat();
    void refreshList().catch((error) => showError(error.message));
  });
  toggle.addEventListener('click', () => {
    const open = sidebar.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  void refreshList().catch((error) => showError(error.message));
  void refreshScores();
})();
