"""A session's printable record: its facts gathered from the database (``data``), the trend
drawn as SVG on the server (``chart``), an HTML document with every name escaped (``html``),
and that document as PDF (``pdf``); times written in the clinic's clock format (``clock``)."""
