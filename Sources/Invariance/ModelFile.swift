import Foundation
import NN

/// model.safetensors: a trained network and its learned augmentation, with everything needed
/// to predict in the metadata ("format" = "augerino.model/1"; see docs/file-formats.md).
public struct ModelFile {
    public static let format = "augerino.model/1"

    public let spec: NetworkSpec
    public let network: Sequential
    public let augmentation: AffineAugmentation
    public let task: LearningTask
    /// Class names in label order (classification).
    public let classes: [String]?
    /// Inputs are standardised as (x − mean)/std before the network sees them.
    public let inputMean: Float, inputStd: Float
    /// [C, H, W] of one input image.
    public let inputShape: [Int]

    public init(spec: NetworkSpec, network: Sequential, augmentation: AffineAugmentation, task: LearningTask, classes: [String]?,
                inputMean: Float, inputStd: Float, inputShape: [Int]) {
        (self.spec, self.network, self.augmentation, self.task, self.classes) = (spec, network, augmentation, task, classes)
        (self.inputMean, self.inputStd, self.inputShape) = (inputMean, inputStd, inputShape)
    }

    public var predictor: AveragedPredictor { AveragedPredictor(network: network, augmentation: augmentation, task: task) }

    /// The file's contents: tensors "network.<name>" and "augmentation.raw_widths".
    public func encoded() throws -> SafeTensors {
        // Sorted keys: the same model gives the same bytes, whatever the process's hash seed.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        var metadata = ["format": Self.format, "network": try json(spec), "input_mean": String(inputMean), "input_std": String(inputStd),
                        "input_shape": try json(inputShape), "task": task == .regression ? "regression" : "classification",
                        "theta": try json(Dictionary(uniqueKeysWithValues: augmentation.widthValues.map { ($0.key.rawValue, $0.value) })),
                        "learned_generators": try json(augmentation.learned.map(\.rawValue).sorted())]
        if let classes { metadata["classes"] = try json(classes) }
        let entries = network.stateDictionary.map { SafeTensors.Entry(name: "network." + $0.name, shape: $0.tensor.shape, values: $0.tensor.values) }
            + [SafeTensors.Entry(name: "augmentation.raw_widths", shape: [6], values: augmentation.rawWidths.values)]
        return SafeTensors(entries: entries, metadata: metadata)
    }

    /// Writes the model atomically.
    public func write(to url: URL) throws { try encoded().write(to: url) }

    /// Reads a model file and rebuilds the network and the augmentation.
    /// - Throws: `NNError` naming the file and what is wrong.
    public static func read(from url: URL) throws -> ModelFile {
        let file = try SafeTensors.read(from: url)
        func fail(_ rule: String) -> NNError { .invalidSafetensors(file: url.path, rule: rule) }
        guard file.metadata["format"] == format else {
            throw fail("metadata \"format\" is \(file.metadata["format"].map { "\"\($0)\"" } ?? "missing"); an augerino model has \"\(format)\"")
        }
        func decode<T: Decodable>(_ key: String, as type: T.Type) throws -> T {
            guard let text = file.metadata[key], let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw fail("metadata \"\(key)\" is missing or malformed")
            }
            return value
        }
        let spec = try decode("network", as: NetworkSpec.self)
        let learned = Set(try decode("learned_generators", as: [String].self).compactMap(AffineGenerator.init(rawValue:)))
        let classes = file.metadata["classes"] == nil ? nil : try decode("classes", as: [String].self)
        let inputShape = try decode("input_shape", as: [Int].self)
        guard let mean = file.metadata["input_mean"].flatMap(Float.init), let std = file.metadata["input_std"].flatMap(Float.init), std > 0,
              inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw fail("metadata \"input_mean\", \"input_std\" or \"input_shape\" is missing or invalid")
        }
        var random = RandomGenerator(seed: 0)
        let network = spec.makeNetwork(random: &random)
        var state: [String: (shape: [Int], values: [Float])] = [:]
        for entry in file.entries where entry.name.hasPrefix("network.") { state[String(entry.name.dropFirst(8))] = (entry.shape, entry.values) }
        try network.loadStateDictionary(state, source: url.path)
        let augmentation = AffineAugmentation(learned: learned)
        guard let widths = file.byName["augmentation.raw_widths"], widths.shape == [6] else { throw fail("tensor \"augmentation.raw_widths\" of shape [6] is missing") }
        widths.values.withUnsafeBufferPointer { augmentation.rawWidths.storage.pointer.update(from: $0.baseAddress!, count: 6) }
        network.eval()
        return ModelFile(spec: spec, network: network, augmentation: augmentation,
                         task: file.metadata["task"] == "regression" ? .regression : .classification(classes: classes?.count ?? spec.outputs),
                         classes: classes, inputMean: mean, inputStd: std, inputShape: inputShape)
    }
}
