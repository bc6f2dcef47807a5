// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "sluice",
  products: [
    .executable(name: "sluice", targets: ["sluice"]),
    .library(name: "SluiceCore", targets: ["SluiceCore"]),
  ],
  dependencies: [],
  targets: [
    .target(name: "SluiceCore", path: "Sources/SluiceCore"),
    .executableTarget(name: "sluice", dependencies: ["SluiceCore"], path: "Sources/sluice"),
    // Benchmarks (bench/run.sh): store size/speed, tick overhead, Slurm calls, array submission.
    .executableTarget(name: "sluice-bench", dependencies: ["SluiceCore"], path: "Sources/sluice-bench"),
    .testTarget(
      name: "SluiceCoreTests", dependencies: ["SluiceCore"], path: "Tests/SluiceCoreTests",
      resources: []),
  ],
  swiftLanguageModes: [.v6]
)
