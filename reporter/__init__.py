"""The reporter: the weekly report and the notices, built, signed and delivered to the partner."""
