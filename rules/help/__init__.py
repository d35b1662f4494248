"""Package data: the help-seeking phrases (`phrases.txt`) and help and recovery sites
(`sites.txt`) that `rules.help_seeking` reads; see README.md."""
