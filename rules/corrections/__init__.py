"""Package data: hosts public lists carry by mistake (`mistakes.txt`), which
`rules.list_corrections` takes out of every imported list; see README.md."""
