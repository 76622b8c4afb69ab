"""The keys of ``data:`` that train from record batches (``data.stream: true``, docs/data.md):
their defaults, and the combinations a stream cannot serve, refused with one line each."""

from __future__ import annotations

from typing import Any

from mlptrain.config.problems import problem, show_value

# rows held by the shuffle buffer: 65536 rows of 100 float32 features are 26 MB, and rows
# that far apart in the file mix well (docs/data.md has the trade-off)
SHUFFLE_BUFFER = 65536
# training rows the table encoder (fills, scaling, categories) is fitted on: a uniform sample
# chosen by the rows' hashes, so the same whatever the batch size or the order of the files
FIT_SAMPLE = 200_000
# the keys only a stream reads: a change of one without data.stream: true is refused
STREAM_ONLY = ("shuffle_buffer", "fit_sample", "split_key")
# what places rows by the file they come in, or by a column of its own: a stream assigns every
# row by its hash instead, so these cannot be honoured
_NOT_WITH_STREAM = ("val_path", "test_path", "split_column", "group_column")


def check_stream_options(spec: Any) -> None:
    """``data.stream`` and the keys that go with it (``spec`` is the ``data:`` model)."""
    fields = type(spec).model_fields
    if not spec.stream:
        for key in STREAM_ONLY:
            if getattr(spec, key) != fields[key].get_default():
                raise problem(
                    (key,),
                    f"{show_value(getattr(spec, key))} is not allowed without data.stream: "
                    "true (it applies to a streamed table); remove it or set data.stream: true",
                )
        return
    if spec.thousands != fields["thousands"].get_default():
        raise problem(
            ("thousands",),
            f"{show_value(spec.thousands)} is not allowed with data.stream: true (a streamed CSV "
            "reads numbers as pyarrow parses them: data.decimal is honoured, a thousands "
            "separator is not); remove it, or set data.stream: false",
        )
    for key in _NOT_WITH_STREAM:
        if getattr(spec, key) is not None:
            raise problem(
                (key,),
                f"{show_value(str(getattr(spec, key)))} is not allowed with data.stream: true "
                "(a stream assigns every row to train/val/test by a hash of the row, or of "
                "data.split_key); remove it, or set data.stream: false",
            )
