"""Quality → encoder settings for the H.264/AAC MP4s we deliver to social platforms.

Every platform (YouTube, TikTok, Instagram, X, Discord/Slack previews) re-encodes what it
receives, so the upload should be clean enough to survive a second generation, but no
bigger than it needs to be. x264's CRF keeps quality constant and lets the size follow
the content: lower is better/larger, +6 roughly halves the bitrate.

=========  ====  ==========  =======  ==============================================
quality    crf   x264 preset  audio    intent
=========  ====  ==========  =======  ==============================================
high       18    medium       256k     visually lossless master for upload; survives
                                       the platform's re-encode. Largest files.
medium     23    fast         192k     x264's default quality: good looking, about
                                       half the size of "high".
low        28    veryfast     128k     small files for previews and chat attachments;
                                       visible softening on fine grain/noise.
=========  ====  ==========  =======  ==============================================

The preset trades encode time for compression at the *same* quality. On the 2-core
machines we run on, "slow" and slower presets cost more wall time than they save in bytes,
so "medium" is the slowest we use. Audio is AAC-LC (Remotion's default for H.264); 256k
is transparent for stereo music, 128k is still fine for a preview.

Video is always yuv420p, limited-range BT.709 (the render server sets that) with the moov
atom first (+faststart), which is what every social upload endpoint expects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncodingSettings:
    """What the render server needs to encode one quality level."""

    crf: int
    x264_preset: str
    audio_bitrate: str


QUALITY_ENCODING: dict[str, EncodingSettings] = {
    "high": EncodingSettings(crf=18, x264_preset="medium", audio_bitrate="256k"),
    "medium": EncodingSettings(crf=23, x264_preset="fast", audio_bitrate="192k"),
    "low": EncodingSettings(crf=28, x264_preset="veryfast", audio_bitrate="128k"),
}


# webm (VP9 + Opus): libvpx-vp9's CRF scale is 0-63 (Remotion's default 28); the same
# three intents. No x264 preset; Opus at the quality's audio bitrate.
VP9_CRF: dict[str, int] = {"high": 24, "medium": 31, "low": 38}


@dataclass(frozen=True)
class CodecSettings:
    """What a renderer (local server or Lambda) is given for one quality in one codec."""

    codec: str  # Remotion's codec: h264 | vp9 | gif
    crf: int | None
    x264_preset: str | None
    audio_bitrate: str | None


def codec_settings(quality: str, codec: str = "h264") -> CodecSettings:
    """Encoder settings for a quality in a Remotion codec (``h264``, ``vp9``, ``gif``).

    A GIF has no CRF, no preset and no audio: Remotion refuses them for ``gif``."""
    base = encoding_for(quality)
    if codec == "h264":
        return CodecSettings("h264", base.crf, base.x264_preset, base.audio_bitrate)
    if codec == "vp9":
        return CodecSettings("vp9", VP9_CRF[quality], None, base.audio_bitrate)
    if codec == "gif":
        return CodecSettings("gif", None, None, None)
    raise ValueError(f"unknown codec {codec!r} (expected h264, vp9 or gif)")


def encoding_for(quality: str) -> EncodingSettings:
    """The encoder settings for a quality name ("high", "medium", "low")."""
    try:
        return QUALITY_ENCODING[quality]
    except KeyError:
        allowed = ", ".join(QUALITY_ENCODING)
        raise ValueError(f"unknown quality {quality!r} (expected one of: {allowed})") from None
