"""One module per pipeline step. Each step is a plain function with typed inputs and
outputs; the CLI, the Hera templates and the local runner are thin shells around it."""
