"""The one capped output stream of the grader (no imports: the kernel's prologue loads it).

The grader replaces ``sys.stdout`` and ``sys.stderr`` twice: in the learner's kernel (keep the
first ``limit`` characters, count the rest) and in each check process (keep nothing, count
everything). Both use :class:`CappedStream`, which passes every other attribute (``encoding``,
``fileno()``, ``buffer``, ``errors``, ...) through to the real stream, so learner code that reads
them behaves under the grader as it does in the notebook.
"""


class CappedStream:
    """``stream`` that keeps at most ``limit`` characters of what is written and counts all."""

    def __init__(self, stream, limit: int):
        self._stream, self._limit, self.kept, self.total = stream, limit, 0, 0

    def write(self, text):
        self.total += len(text)
        room = self._limit - self.kept
        if room > 0:
            self.kept += min(room, len(text))
            self._stream.write(text[:room])
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        flush = getattr(self._stream, "flush", None)
        if flush is not None:
            try:
                flush()
            except (OSError, ValueError):  # a closed or full stream: nothing more to keep
                pass

    def __getattr__(self, name):  # called only for what this class does not define
        if name == "_stream":  # not set yet (a copy made without __init__): no recursion
            raise AttributeError(name)
        return getattr(self._stream, name)
