#!/usr/bin/env bash
# Compresses and decompresses A Study in Scarlet (Project Gutenberg #244) with the embedded model,
# keeping every intermediate in AStudyInScarlet/, and checks the round trip byte for byte.
# Extra options go to ../../run.sh (e.g. --coder rank, -n llmc-tiny).
cd "$(dirname "$0")" && exec ../../run.sh "$@" AStudyInScarlet.txt
