"""The entry point `pulumi up` runs: the program itself is package code (gpufleet/program.py)."""

from gpufleet.program import fleet_program

fleet_program()
