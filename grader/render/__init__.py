"""Renderers of a GradingResult: JSON (the result model's to_dict), text/Markdown, HTML."""
