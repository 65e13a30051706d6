"""Voice activity: silence yields no utterance, speech yields utterances in time order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kallglot.speech import audio
from kallglot.speech.pipeline import segments
from kallglot.speech.vad import Segmenter, SegmenterOptions, make_vad
from tests.speech.conftest import clip


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
def test_silence_has_no_speech(engine: str) -> None:
    segmenter = Segmenter(make_vad(engine))
    for frame in audio.frames(np.zeros(16_000 * 2, dtype=np.int16)):
        started, segment = segmenter.push(frame)
        assert not started
        assert segment is None
    assert segmenter.flush() is None


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
def test_speech_between_silences_is_one_utterance_with_its_times(engine: str) -> None:
    speech = clip("es", 2)
    pause = np.zeros(16_000, dtype=np.int16)
    found = []
    segmenter = Segmenter(make_vad(engine), SegmenterOptions(end_silence_ms=700))
    for frame in audio.frames(np.concatenate([pause, speech, pause])):
        _started, segment = segmenter.push(frame)
        if segment is not None:
            found.append(segment)
    assert found, "no utterance found"
    assert found[0].start_ms >= 700
    assert found[-1].end_ms <= 1000 + audio.duration_s(speech) * 1000 + 1000
    assert all(a.end_ms <= b.start_ms for a, b in itertools.pairwise(found))


def test_a_long_monologue_is_cut_at_the_maximum_utterance() -> None:
    speech = np.concatenate([clip("fr", 1), clip("fr", 1)])
    options = SegmenterOptions(max_utterance_ms=5000)
    assert all(s.end_ms - s.start_ms <= 5000 for s in segments(speech, options))


def test_white_noise_does_not_crash_the_detector() -> None:
    noise = np.random.default_rng(7).normal(0, 3000, 16_000 * 2).astype(np.int16)
    segments(noise)  # may or may not find "speech"; must not fail
