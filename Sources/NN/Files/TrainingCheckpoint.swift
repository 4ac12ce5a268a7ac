import Foundation

/// Everything needed to continue a training run bit-exactly: named state (parameters and
/// buffers of the model, and anything else trained alongside it), the optimiser's
/// per-parameter state, the random generator, epoch and step, and the caller's metadata.
///
/// Stored as one safetensors file: tensors "state.<name>" and "optimizer.<name>", and
/// "__metadata__" with "format" = "augerino.checkpoint/1", "epoch", "step", "random_key",
/// "random_counter" (decimal) and the caller's entries prefixed "user.". Written atomically.
public struct TrainingCheckpoint {
    public static let format = "augerino.checkpoint/1"

    public var epoch: Int
    public var step: Int
    public var random: RandomGenerator
    public var state: [SafeTensors.Entry]
    public var optimizer: [(name: String, values: [Float])]
    public var metadata: [String: String]

    /// Captures the current values (copies).
    public init(state: [(name: String, tensor: Tensor)], optimizer: Optimizer, epoch: Int, step: Int,
                random: RandomGenerator, metadata: [String: String] = [:]) {
        self.state = state.map { SafeTensors.Entry(name: $0.name, shape: $0.tensor.shape, values: $0.tensor.values) }
        self.optimizer = optimizer.state
        (self.epoch, self.step, self.random, self.metadata) = (epoch, step, random, metadata)
    }

    private init(epoch: Int, step: Int, random: RandomGenerator, state: [SafeTensors.Entry],
                 optimizer: [(name: String, values: [Float])], metadata: [String: String]) {
        (self.epoch, self.step, self.random, self.state, self.optimizer, self.metadata) = (epoch, step, random, state, optimizer, metadata)
    }

    /// Copies the saved values back into `state` and `optimizer`.
    /// - Throws: `NNError.stateMismatch` / `.invalidCheckpoint` naming what does not fit.
    public func restore(into state: [(name: String, tensor: Tensor)], optimizer: Optimizer, source: String) throws {
        let saved = Dictionary(self.state.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var problems: [String] = []
        for (name, tensor) in state {
            guard let entry = saved[name] else { problems.append("\"\(name)\" is missing"); continue }
            guard entry.shape == tensor.shape else { problems.append("\"\(name)\" has shape \(entry.shape), the run needs \(tensor.shape)"); continue }
            entry.values.withUnsafeBufferPointer { tensor.storage.pointer.update(from: $0.baseAddress!, count: tensor.count) }
        }
        let known = Set(state.map(\.name))
        problems += saved.keys.filter { !known.contains($0) }.sorted().map { "\"\($0)\" is not part of this run" }
        if !problems.isEmpty { throw NNError.stateMismatch(source: source, problems: problems) }
        try optimizer.loadState(Dictionary(self.optimizer.map { ($0.name, $0.values) }, uniquingKeysWith: { first, _ in first }), source: source)
    }

    /// Writes the checkpoint atomically and durably.
    public func write(to url: URL) throws {
        var meta = ["format": Self.format, "epoch": String(epoch), "step": String(step),
                    "random_key": String(random.key), "random_counter": String(random.counter)]
        for (key, value) in metadata { meta["user." + key] = value }
        let entries = state.map { SafeTensors.Entry(name: "state." + $0.name, shape: $0.shape, values: $0.values) }
            + optimizer.map { SafeTensors.Entry(name: "optimizer." + $0.name, shape: [$0.values.count], values: $0.values) }
        try SafeTensors(entries: entries, metadata: meta).write(to: url)
    }

    /// Reads a checkpoint written by `write(to:)`.
    /// - Throws: `NNError` naming the file and what is wrong with it.
    public static func read(from url: URL) throws -> TrainingCheckpoint {
        let file = try SafeTensors.read(from: url)
        func fail(_ rule: String) -> NNError { .invalidCheckpoint(file: url.path, rule: rule) }
        guard file.metadata["format"] == format else {
            throw fail("metadata \"format\" is \(file.metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(format)\"")
        }
        func integer<T: FixedWidthInteger>(_ key: String, as: T.Type) throws -> T {
            guard let text = file.metadata[key], let value = T(text) else { throw fail("metadata \"\(key)\" is missing or not a whole number") }
            return value
        }
        var state: [SafeTensors.Entry] = [], optimizer: [(name: String, values: [Float])] = []
        for entry in file.entries {
            if entry.name.hasPrefix("state.") {
                state.append(SafeTensors.Entry(name: String(entry.name.dropFirst(6)), shape: entry.shape, values: entry.values))
            } else if entry.name.hasPrefix("optimizer.") {
                optimizer.append((String(entry.name.dropFirst(10)), entry.values))
            } else {
                throw fail("tensor \"\(entry.name)\" is neither \"state.…\" nor \"optimizer.…\"")
            }
        }
        var metadata: [String: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix("user.") { metadata[String(key.dropFirst(5))] = value }
        return TrainingCheckpoint(epoch: try integer("epoch", as: Int.self), step: try integer("step", as: Int.self),
                                  random: RandomGenerator(key: try integer("random_key", as: UInt64.self), counter: try integer("random_counter", as: UInt64.self)),
                                  state: state, optimizer: optimizer, metadata: metadata)
    }
}
