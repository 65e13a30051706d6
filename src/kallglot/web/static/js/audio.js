// The agent's audio: microphone in, translated caller audio out.
//
// First choice is WebRTC: POST /v1/sessions/{id}/webrtc?token=… with the SDP offer
// ({"type": "offer", "sdp", "speaker": "agent"}) answers {"type": "answer", "sdp"}; the
// remote track plays in the page's <audio> element (in assistive mode it carries the
// caller's original voice, the translation shows as subtitles in the transcript). Where
// the server has no WebRTC endpoint the same microphone is streamed over the session
// WebSocket as 16 kHz PCM and the translated audio.output chunks are played with Web Audio.
import { api, isMissingApi } from "./api.js";

const RATE = 16000;
const ICE_GATHERING_TIMEOUT_MS = 2000;

function iceGathered(peer) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (peer.iceGatheringState !== "complete") return;
      peer.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    peer.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_GATHERING_TIMEOUT_MS);
  });
}

function base64ToInt16(payload) {
  const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
  return new Int16Array(bytes.buffer, 0, bytes.length >> 1);
}

function int16ToBase64(samples) {
  const bytes = new Uint8Array(samples.buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export class AgentAudio {
  constructor({ session, socket, element, onState }) {
    this.session = session;
    this.socket = socket;
    this.element = element;
    this.onState = onState;
    this.mic = null;
    this.peer = null;
    this.context = null;
    this.output = null;
    this.playing = [];
    this.nextStart = 0;
    this.sequence = 0;
    this.muted = false;
    this.held = false;
  }

  async start() {
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
      });
    } catch (error) {
      this.onState(`no microphone (${error.name})`);
      return;
    }
    try {
      await this.startWebRtc();
      this.onState("WebRTC");
    } catch (error) {
      if (!isMissingApi(error)) throw error;
      this.peer?.close();
      this.peer = null;
      await this.startWebSocketAudio();
      this.onState("over the session stream");
    }
  }

  async startWebRtc() {
    const peer = new RTCPeerConnection();
    this.peer = peer;
    for (const track of this.mic.getAudioTracks()) peer.addTrack(track, this.mic);
    peer.addEventListener("track", (event) => {
      this.element.srcObject = event.streams[0] || new MediaStream([event.track]);
    });
    await peer.setLocalDescription(await peer.createOffer());
    await iceGathered(peer);
    const { id, stream } = this.session;
    const answer = await api("POST", `/v1/sessions/${id}/webrtc?token=${encodeURIComponent(stream.token)}`, {
      type: "offer",
      sdp: peer.localDescription.sdp,
      speaker: "agent",
    });
    await peer.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  async startWebSocketAudio() {
    this.context = new AudioContext({ sampleRate: RATE });
    this.output = this.context.createGain();
    this.output.connect(this.context.destination);
    await this.context.audioWorklet.addModule("/static/js/pcm-capture.worklet.js");
    const source = this.context.createMediaStreamSource(this.mic);
    const capture = new AudioWorkletNode(this.context, "pcm-capture");
    capture.port.onmessage = (message) => this.send(message.data);
    source.connect(capture);
  }

  send(samples) {
    if (this.muted || this.held || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(
      JSON.stringify({
        type: "audio.input",
        speaker: "agent",
        sequence: this.sequence,
        timestamp_ms: this.sequence * 100,
        audio: { encoding: "pcm_s16le", sample_rate_hz: RATE, payload: int16ToBase64(samples) },
      }),
    );
    this.sequence += 1;
  }

  /** Plays one audio.output chunk (only used without WebRTC). */
  play(event) {
    if (!this.context || event.audio.encoding !== "pcm_s16le") return;
    const samples = base64ToInt16(event.audio.payload);
    const buffer = this.context.createBuffer(1, samples.length, event.audio.sample_rate_hz);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i += 1) channel[i] = samples[i] / 32768;
    const node = this.context.createBufferSource();
    node.buffer = buffer;
    node.connect(this.output);
    this.nextStart = Math.max(this.nextStart, this.context.currentTime);
    node.start(this.nextStart);
    this.nextStart += buffer.duration;
    this.playing.push(node);
    node.addEventListener("ended", () => this.playing.splice(this.playing.indexOf(node), 1));
  }

  /** Barge-in: drop what is buffered. */
  clear() {
    for (const node of this.playing.splice(0)) node.stop();
    this.nextStart = 0;
  }

  setMuted(muted) {
    this.muted = muted;
    for (const track of this.mic?.getAudioTracks() || []) track.enabled = !muted && !this.held;
  }

  setHeld(held) {
    this.held = held;
    this.setMuted(this.muted);
    this.element.muted = held;
    if (this.output) this.output.gain.value = held ? 0 : 1;
  }

  stop() {
    for (const track of this.mic?.getTracks() || []) track.stop();
    this.peer?.close();
    this.context?.close();
    this.element.srcObject = null;
  }
}
