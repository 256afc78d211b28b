#!/bin/sh
echo solving "$@"
