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


def encoding_for(quality: str) -> EncodingSettings:
    """The encoder settings for a quality name ("high", "medium", "low")."""
    try:
        return QUALITY_ENCODING[quality]
    except KeyError:
        allowed = ", ".join(QUALITY_ENCODING)
        raise ValueError(f"unknown quality {quality!r} (expected one of: {allowed})") from None
