"""Fleet inventory: teams, developers, projects, machines, gopls process lifetimes, tokens."""
