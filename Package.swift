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
    .executableTarget(
      name: "sluice", dependencies: ["SluiceCore"], path: "Sources/sluice",
      // Release builds on Linux are position-dependent: a PIE with Swift's runtime and
      // Foundation linked in has ~74,000 relocations, and applying them at start (and
      // the copy-on-write faults on the pages they touch) was most of sluice's
      // start-up (`sluice --version` 6 ms, vs 1.3 ms for an empty C program). The
      // cost: no address randomisation for the executable itself (libraries, heap and
      // stack keep theirs). See README "Speed".
      linkerSettings: [
        .unsafeFlags(["-Xclang-linker", "-no-pie"], .when(platforms: [.linux], configuration: .release))
      ]
    ),
    // Benchmarks (bench/run.sh): store size/speed, tick overhead, Slurm calls, array submission.
    .executableTarget(name: "sluice-bench", dependencies: ["SluiceCore"], path: "Sources/sluice-bench"),
    .testTarget(
      name: "SluiceCoreTests", dependencies: ["SluiceCore"], path: "Tests/SluiceCoreTests",
      resources: []),
  ],
  swiftLanguageModes: [.v6]
)
