"""The staticwrap benchmark: staticwrap against WhiteNoise, Werkzeug, a bare app and nginx.

Method
------
Every contender runs in the same invocation, on the same generated files, and
the measurements are interleaved (contender A round 1, B round 1, ..., A round
2, ...; the order rotates each round), so that a noisy neighbour on a shared
machine hits all of them alike. Every figure reported is the median of the
rounds; ratios are taken between medians of the same run. "staticwrap
(again)" is a second, independent staticwrap measured like any other
contender: the A/A ratio (again ÷ first) is the noise floor of the run, and a
ratio closer to 1.0 than that noise says nothing.

Three sections (see each module):

* :mod:`bench.inprocess`: the WSGI callable called directly, with a prepared
  environ and a ``wsgi.file_wrapper`` that never reads the file; µs per
  request (``time.perf_counter_ns`` over many calls).
* :mod:`bench.wire`: a real Gunicorn (sync and gthread, one worker) and nginx
  on 127.0.0.1, driven by ``wrk``; requests/s or MB/s, and the server's CPU
  time per request from ``/proc/<pid>/stat``.
* :mod:`bench.startup`: the time and memory to index a 10,000-file tree, each
  measurement in a fresh interpreter.

Each scenario is checked once per contender (status and the headers that show
the work was done: ``Content-Encoding: br``, ``Content-Range``, a pass-through
to the app). A contender without the feature gets "n/a (no support)" instead
of a number for different work. :mod:`bench.report` renders the tables and the
targets of issue 5; ``bench/run`` (``python -m bench``) runs it all.
"""
