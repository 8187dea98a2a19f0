"""The live alert runner: the pure engine (``app.alerts``) fed by the readings, observations
and acknowledgements as they are stored, its events stored and fanned out.

``runner`` runs the engine (one worker at a time, ``lease``), ``feed`` turns stored rows into
the engine's inputs, ``store`` writes the engine's events and snapshots.
"""
