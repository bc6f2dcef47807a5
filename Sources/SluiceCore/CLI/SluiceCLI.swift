import Foundation

/// The command-line front end. Placeholder until the commands land.
public enum SluiceCLI {
  public static func main(_ arguments: [String]) -> Int32 {
    print("sluice 0.1.0")
    return 0
  }
}
