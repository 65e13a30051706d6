"""Speech: audio, VAD, recognition, translation and synthesis behind small interfaces.

No knowledge of calls or users lives here. Engines are chosen per language and pair
by the capability table (``capabilities``) through the registry (``registry``).
"""

from kallglot.speech.asr import SpeechToText, Transcript, WhisperEngine
from kallglot.speech.audio import (
    FRAME_MS,
    SAMPLE_RATE,
    AudioFrame,
    decode_bytes,
    decode_file,
    frames,
    resample,
    telephone_band,
)
from kallglot.speech.errors import (
    AudioDecodeError,
    AudioTooLongError,
    EngineError,
    ModelDownloadError,
    ModelNotInstalledError,
    UnsupportedLanguageError,
    UnsupportedPairError,
)
from kallglot.speech.langid import identify_language
from kallglot.speech.recognizer import RecognitionEvent, Recognizer, RecognizerOptions
from kallglot.speech.registry import best_route, speech_to_text, synthesizer, translator
from kallglot.speech.service import transcribe, translate_text, warm_up
from kallglot.speech.translate import Translator
from kallglot.speech.tts import Synthesizer, stream
from kallglot.speech.vad import Segmenter, SegmenterOptions, VoiceActivityDetector, make_vad

__all__ = [
    "FRAME_MS",
    "SAMPLE_RATE",
    "AudioDecodeError",
    "AudioFrame",
    "AudioTooLongError",
    "EngineError",
    "ModelDownloadError",
    "ModelNotInstalledError",
    "RecognitionEvent",
    "Recognizer",
    "RecognizerOptions",
    "Segmenter",
    "SegmenterOptions",
    "SpeechToText",
    "Synthesizer",
    "Transcript",
    "Translator",
    "UnsupportedLanguageError",
    "UnsupportedPairError",
    "VoiceActivityDetector",
    "WhisperEngine",
    "best_route",
    "decode_bytes",
    "decode_file",
    "frames",
    "identify_language",
    "make_vad",
    "resample",
    "speech_to_text",
    "stream",
    "synthesizer",
    "telephone_band",
    "transcribe",
    "translate_text",
    "translator",
    "warm_up",
]
