import ArgumentParser

struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv", abstract: "placeholder")
}
