"""Dataset cards (Markdown with YAML front matter); a package only so installs ship the .md files."""
