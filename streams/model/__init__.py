"""The pure core of the stream processor: SPEC §4 as plain functions over plain values.

No Kafka, no Faust, no clock, no I/O: time is the events' ``ts`` or a ``now`` passed in.
The worker decodes an event, calls these, stores the states and emits the outputs.

Where things live:

- ``rules`` — thresholds, tolerances and bounds (``Rules``, ``Threshold``)
- ``intervals`` — sorted disjoint media intervals (coverage)
- ``playback`` — what counts as played / watch time between two events of a session
- ``sessions`` — an open session: its window of points, its fold, its summary record
- ``milestones`` — once-per-cycle milestones and their deterministic ids
- ``video_state`` — the (user, video) state value and what it reads as
- ``watch_state`` — its transitions: ``advance`` (and, re-exported, ``close_idle``)
- ``lifecycle`` — how sessions end: stop, idle (``close_idle``), replaced
- ``video_actions`` / ``personal`` — skip, marks, rating, notes, tags, bookmarks on a video
- ``user_state`` — per-user settings, device modes, marks, queues, recent/series indexes
- ``preferences``, ``queues``, ``hierarchy``, ``devices``, ``catalog`` — their concepts
- ``continue_watching``, ``next_up`` — the reads of SPEC §4.4 on a device
- ``codec`` — compact exact bytes for both states
- ``outputs`` — what a transition hands back (milestones, sessions, activity)

See ``docs/watch-state.md`` for the rules these implement and the choices made where the
SPEC is silent.
"""

from streams import native

# Compiled with mypyc when a build of these very sources exists (streams/native.py).
LOADED_AS = native.install()
