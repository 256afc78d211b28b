#!/usr/bin/python3
"""fit: least-squares polynomial fit of "x,y" lines read from a file or standard input.

Prints "coef C_n ... C_0" (highest power first) and "rms R", the root mean square of the
residuals, so that a sweep over degrees can be compared from the task logs.
"""
import argparse
import sys

import numpy


def main():
    parser = argparse.ArgumentParser(prog="fit")
    parser.add_argument("--degree", type=int, default=1)
    parser.add_argument("file", nargs="?", type=argparse.FileType("r"), default=sys.stdin)
    args = parser.parse_args()

    data = numpy.loadtxt(args.file, delimiter=",", ndmin=2)
    x, y = data[:, 0], data[:, 1]
    coef = numpy.polyfit(x, y, args.degree)
    rms = float(numpy.sqrt(numpy.mean((numpy.polyval(coef, x) - y) ** 2)))
    print("coef " + " ".join(f"{c:.6g}" for c in coef))
    print(f"rms {rms:.6g}")


if __name__ == "__main__":
    main()
