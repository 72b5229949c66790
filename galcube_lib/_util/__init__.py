"""Private helpers shared by every stage: argument checks, random generators, atomic files, parallel runs."""
