// The floor beside the benchmarked tick (see Floor.swift): its own executable, so
// that it is linked as sluice is (FoundationEssentials, not the bench's Foundation).
Floor.run(Array(CommandLine.arguments.dropFirst()))
