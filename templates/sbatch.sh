#!/bin/bash
{{directives}}
# Rendered by sluice for {{what}}. Edit templates/sbatch.sh to change it.
{{setup}}
{{env}}
{{workdir}}
{{body}}
