"""The entry point `pulumi up` runs: the program is package code (gpufleet/program.py), and the
components declare its resources (components.declare_fleet)."""

from components import declare_fleet
from gpufleet.program import fleet_program

fleet_program(declare_fleet)
