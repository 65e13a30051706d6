// The agent console: presence, incoming calls, the session WebSocket (live transcript,
// latency), call controls and the agent's audio.
import { api, clearFlash, flash } from "./api.js";
import { AgentAudio } from "./audio.js";

const SPEAKERS = { caller: "Caller", customer: "Caller", agent: "You" };
const RING_POLL_MS = 3000;

function clock(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}

export function initConsole(root) {
  const $ = (selector) => root.querySelector(selector);
  const transcript = $("[data-transcript] tbody");
  const status = $("[data-call-status]");
  const controls = ["[data-mute]", "[data-hold]", "[data-hangup]"].map($);
  const state = { session: null, socket: null, call: null, audio: null, partials: new Map(), declined: new Set() };

  function setStatus(text) {
    status.textContent = text;
  }

  // ---- transcript ------------------------------------------------------------------
  function row(speaker) {
    const existing = state.partials.get(speaker);
    if (existing) return existing;
    const tr = transcript.insertRow();
    tr.className = `partial speaker-${speaker}`;
    for (let i = 0; i < 4; i += 1) tr.insertCell();
    tr.cells[1].textContent = SPEAKERS[speaker] || speaker;
    state.partials.set(speaker, tr);
    tr.scrollIntoView({ block: "nearest" });
    return tr;
  }

  function onPartial(event) {
    const tr = row(event.speaker);
    tr.cells[2].textContent = event.text;
    tr.cells[2].lang = event.language || "";
    tr.cells[3].textContent = "…";
  }

  function onFinal(event) {
    const tr = row(event.speaker);
    state.partials.delete(event.speaker);
    tr.className = `final speaker-${event.speaker}`;
    tr.dataset.utterance = event.utterance_id;
    tr.cells[0].textContent = clock(event.start_ms);
    tr.cells[2].textContent = event.text;
    tr.cells[2].lang = event.language || "";
    tr.cells[3].textContent = event.translation ? event.translation.text : "—";
    tr.cells[3].lang = event.translation ? event.translation.language : "";
  }

  function onLatency(event) {
    const indicator = $("[data-latency]");
    const ms = event.first_audio_ms ?? event.mt_done_ms ?? event.asr_final_ms;
    if (ms == null) return;
    indicator.textContent = `Latency ${(ms / 1000).toFixed(1)} s`;
    indicator.dataset.level = ms <= 2000 ? "good" : ms <= 3500 ? "fair" : "poor";
  }

  // ---- the session -----------------------------------------------------------------
  const handlers = {
    "session.ready": (event) => {
      setStatus(`In call · ${event.mode.replaceAll("_", " ")} · caller ${event.source_language || "auto"} → you ${event.target_language || "auto"}`);
    },
    "transcript.partial": onPartial,
    "transcript.final": onFinal,
    latency: onLatency,
    "language.detected": (event) => setStatus(`${SPEAKERS[event.speaker]} speaks ${event.language}`),
    "session.updated": (event) => setStatus(`Languages now: caller ${event.source_language} → you ${event.target_language}`),
    "audio.output": (event) => state.audio?.play(event),
    "audio.clear": () => state.audio?.clear(),
    "session.error": (event) => flash(root, event.message),
    "session.ended": (event) => teardown(`Call ended (${event.reason.replaceAll("_", " ")}).`),
  };

  // One call at a time: the ways to start another are off until this one ends.
  const starters = root.querySelectorAll("[data-start-session] button[type=submit], [data-dial] button[type=submit]");
  function setStartable(on) {
    for (const button of starters) button.disabled = !on;
  }

  function connect(session) {
    state.session = session;
    setStartable(false);
    root.dataset.sessionId = session.id;
    transcript.replaceChildren();
    state.partials.clear();
    const url = new URL(session.stream.url);
    url.searchParams.set("token", session.stream.token);
    url.searchParams.set("party", "agent");
    url.searchParams.set("audio_format", "pcm_s16le_16000");
    const socket = new WebSocket(url);
    state.socket = socket;
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      handlers[event.type]?.(event);
    });
    socket.addEventListener("open", async () => {
      root.dataset.connected = "true";
      for (const button of controls) button.disabled = false;
      $("[data-language-override]").hidden = false;
      state.audio = new AgentAudio({
        session,
        socket,
        element: $("[data-remote-audio]"),
        onState: (text) => ($("[data-audio-state]").textContent = `Audio: ${text}`),
      });
      await state.audio.start();
    });
    socket.addEventListener("close", () => {
      if (state.socket === socket) teardown("Disconnected.");
    });
  }

  function teardown(message) {
    state.audio?.stop();
    state.audio = null;
    const socket = state.socket;
    state.socket = null;
    socket?.close();
    state.session = null;
    state.call = null;
    setStartable(true);
    delete root.dataset.connected;
    for (const button of controls) {
      button.disabled = true;
      button.setAttribute("aria-pressed", "false");
    }
    $("[data-language-override]").hidden = true;
    setStatus(message);
  }

  $("[data-start-session]").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      const body = Object.fromEntries(new FormData(form));
      connect(await api("POST", "/v1/sessions", body));
      clearFlash(root);
    } catch (error) {
      flash(root, error.message);
    }
  });

  // ---- call controls -----------------------------------------------------------------
  function toggle(button, apply) {
    const on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(on));
    apply(on);
  }
  $("[data-mute]").addEventListener("click", (event) => toggle(event.currentTarget, (on) => state.audio?.setMuted(on)));
  $("[data-hold]").addEventListener("click", (event) =>
    toggle(event.currentTarget, (on) => {
      state.audio?.setHeld(on);
      setStatus(on ? "On hold." : "In call.");
    }),
  );
  $("[data-hangup]").addEventListener("click", async () => {
    const { session, call } = state;
    try {
      if (call) await api("POST", `/v1/calls/${call.id}/hangup`, {});
      if (session) await api("POST", `/v1/sessions/${session.id}/end`, {});
    } catch (error) {
      flash(root, error.message);
    }
    teardown("Call ended.");
  });
  $("[data-language-override]").addEventListener("submit", (event) => {
    event.preventDefault();
    const languages = Object.fromEntries(new FormData(event.target));
    state.socket?.send(JSON.stringify({ type: "session.update", ...languages }));
  });

  // ---- presence and incoming calls ---------------------------------------------------
  const presence = $("[data-presence]");
  presence.addEventListener("change", async () => {
    presence.dataset.chosen = "true";
    try {
      await api("PUT", "/v1/routing/me/presence", { presence: presence.value });
      clearFlash(root);
    } catch (error) {
      flash(root, error.message);
    }
  });

  const incoming = $("[data-incoming]");
  async function pollRinging() {
    if (!root.isConnected) return;
    if (presence.value === "available" && !state.call) {
      try {
        const page = await api("GET", "/v1/calls?outcome=ringing&limit=5");
        const call = page.data.find((item) => !state.declined.has(item.id));
        incoming.hidden = !call;
        if (call) {
          incoming.dataset.callId = call.id;
          $("[data-incoming-from]").textContent = call.from_number;
          $("[data-incoming-language]").textContent = call.caller_language || "an unknown language";
        }
      } catch (error) {
        flash(root, error.message);
      }
    }
    setTimeout(pollRinging, RING_POLL_MS);
  }
  $("[data-answer]").addEventListener("click", async () => {
    try {
      state.call = await api("POST", `/v1/calls/${incoming.dataset.callId}/answer`, {});
      incoming.hidden = true;
      setStatus(`Answered the call from ${state.call.from_number}.`);
      if (state.call.stream) connect({ id: state.call.session_id, stream: state.call.stream });
    } catch (error) {
      flash(root, error.message);
    }
  });
  $("[data-decline]").addEventListener("click", () => {
    // Not answering passes the call on to the next agent at the queue's ring timeout.
    state.declined.add(incoming.dataset.callId);
    incoming.hidden = true;
  });
  root.addEventListener("api:done", (event) => {
    if (event.target.matches("[data-dial]")) {
      state.call = event.detail;
      // After the form's own handler re-enables its button (it runs once this event returns).
      queueMicrotask(() => setStartable(false));
      setStatus(`Calling ${state.call.to_number}…`);
    }
  });

  api("GET", "/v1/auth/me")
    .then((me) => api("GET", "/v1/routing/agents?limit=100").then((agents) => [me, agents]))
    .then(([me, agents]) => {
      const mine = agents.data.find((agent) => agent.user_id === me.user.id);
      // What the agent picked while this was loading wins over the stored presence.
      if (mine && !presence.dataset.chosen) presence.value = mine.presence;
    })
    .catch((error) => flash(root, error.message))
    .finally(() => (root.dataset.ready = "true"));
  pollRinging();
}
