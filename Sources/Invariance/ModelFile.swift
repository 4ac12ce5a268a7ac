import Foundation
import NN

/// model.safetensors: a trained network and its learned augmentation, with everything needed
/// to predict in the metadata ("format" = "augerino.model/1", or "augerino.model/2" when it
/// holds photometric families or mirrors, which a reader of /1 would ignore; see
/// docs/file-formats.md).
public struct ModelFile {
    public static let format = "augerino.model/1"
    /// The format of a model with photometric families or mirrors (beside the affine generators).
    public static let familiesFormat = "augerino.model/2"

    public let spec: NetworkSpec
    public let network: Sequential
    public let augmentation: AffineAugmentation
    public let photometric: PhotometricAugmentation?
    public let task: LearningTask
    /// Class names in label order (classification).
    public let classes: [String]?
    /// Inputs are standardised as (x − mean)/std before the network sees them.
    public let inputMean: Float, inputStd: Float
    /// [C, H, W] of one input image.
    public let inputShape: [Int]

    public init(spec: NetworkSpec, network: Sequential, augmentation: AffineAugmentation, photometric: PhotometricAugmentation? = nil,
                task: LearningTask, classes: [String]?, inputMean: Float, inputStd: Float, inputShape: [Int]) {
        (self.spec, self.network, self.augmentation, self.task, self.classes) = (spec, network, augmentation, task, classes)
        self.photometric = photometric
        (self.inputMean, self.inputStd, self.inputShape) = (inputMean, inputStd, inputShape)
    }

    public var predictor: AveragedPredictor { AveragedPredictor(network: network, augmentation: augmentation, photometric: photometric, task: task) }

    /// What the metadata "photometric" holds: the families learned and the map of the
    /// standardised values onto [0, 1] (p = x·gain + offset).
    struct PhotometricMetadata: Codable {
        var learned: [String], gain: Float, offset: Float
    }

    /// What the metadata "symmetry" holds: the mirrors (and the transpose) learned.
    struct SymmetryMetadata: Codable {
        var learned: [String]
    }

    /// The file's contents: tensors "network.<name>" and "augmentation.raw_widths" (and
    /// "augmentation.photometric_raw_widths", "augmentation.symmetry_raw_logits").
    public func encoded() throws -> SafeTensors {
        // Sorted keys: the same model gives the same bytes, whatever the process's hash seed.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        let symmetry = augmentation.symmetry
        var metadata = ["format": photometric == nil && symmetry == nil ? Self.format : Self.familiesFormat, "network": try json(spec), "input_mean": String(inputMean), "input_std": String(inputStd),
                        "input_shape": try json(inputShape), "task": task == .regression ? "regression" : "classification",
                        "theta": try json(Dictionary(uniqueKeysWithValues: augmentation.widthValues.map { ($0.key.rawValue, $0.value) })),
                        "learned_generators": try json(augmentation.learned.map(\.rawValue).sorted())]
        if let classes { metadata["classes"] = try json(classes) }
        var entries = network.stateDictionary.map { SafeTensors.Entry(name: "network." + $0.name, shape: $0.tensor.shape, values: $0.tensor.values) }
            + [SafeTensors.Entry(name: "augmentation.raw_widths", shape: [6], values: augmentation.rawWidths.values)]
        if let photometric {
            metadata["photometric"] = try json(PhotometricMetadata(learned: photometric.learned.map(\.rawValue).sorted(),
                                                                   gain: photometric.gain, offset: photometric.offset))
            entries.append(SafeTensors.Entry(name: "augmentation.photometric_raw_widths", shape: [PhotometricFamily.allCases.count],
                                             values: photometric.rawWidths.values))
        }
        if let symmetry {
            metadata["symmetry"] = try json(SymmetryMetadata(learned: symmetry.learned.map(\.rawValue).sorted()))
            entries.append(SafeTensors.Entry(name: "augmentation.symmetry_raw_logits", shape: [SymmetryFamily.allCases.count],
                                             values: symmetry.rawLogits.values))
        }
        return SafeTensors(entries: entries, metadata: metadata)
    }

    /// Writes the model atomically.
    public func write(to url: URL) throws { try encoded().write(to: url) }

    /// Reads a model file and rebuilds the network and the augmentation.
    /// - Throws: `NNError` naming the file and what is wrong.
    public static func read(from url: URL) throws -> ModelFile {
        let file = try SafeTensors.read(from: url)
        func fail(_ rule: String) -> NNError { .invalidSafetensors(file: url.path, rule: rule) }
        guard file.metadata["format"] == format || file.metadata["format"] == familiesFormat else {
            throw fail("metadata \"format\" is \(file.metadata["format"].map { "\"\($0)\"" } ?? "missing"); an augerino model has \"\(format)\" or \"\(familiesFormat)\"")
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
        var symmetry: SymmetryAugmentation?
        if file.metadata["format"] == familiesFormat, file.metadata["symmetry"] != nil {
            let saved = try decode("symmetry", as: SymmetryMetadata.self)
            let families = saved.learned.compactMap(SymmetryFamily.init(rawValue:))
            guard families.count == saved.learned.count, !families.isEmpty else {
                throw fail("metadata \"symmetry\" needs a list of families from \(SymmetryFamily.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let raw = file.byName["augmentation.symmetry_raw_logits"], raw.shape == [SymmetryFamily.allCases.count],
                  raw.values.allSatisfy(\.isFinite) else {
                throw fail("tensor \"augmentation.symmetry_raw_logits\" of shape [\(SymmetryFamily.allCases.count)] with finite values is missing")
            }
            guard !families.contains(.transpose) || inputShape[1] == inputShape[2] else {
                throw fail("metadata \"symmetry\" names transpose, which needs square inputs; \"input_shape\" is \(inputShape)")
            }
            let mirrors = SymmetryAugmentation(learned: Set(families))
            raw.values.withUnsafeBufferPointer { mirrors.rawLogits.storage.pointer.update(from: $0.baseAddress!, count: raw.values.count) }
            symmetry = mirrors
        }
        let augmentation = AffineAugmentation(learned: learned, symmetry: symmetry)
        guard let widths = file.byName["augmentation.raw_widths"], widths.shape == [6] else { throw fail("tensor \"augmentation.raw_widths\" of shape [6] is missing") }
        widths.values.withUnsafeBufferPointer { augmentation.rawWidths.storage.pointer.update(from: $0.baseAddress!, count: 6) }
        var photometric: PhotometricAugmentation?
        if file.metadata["format"] == familiesFormat, file.metadata["photometric"] != nil || symmetry == nil {
            let saved = try decode("photometric", as: PhotometricMetadata.self)
            let families = PhotometricFamily.allCases.count
            let learned = saved.learned.compactMap(PhotometricFamily.init(rawValue:))
            guard saved.gain > 0, saved.gain.isFinite, saved.offset.isFinite, learned.count == saved.learned.count else {
                throw fail("metadata \"photometric\" needs families from \(PhotometricFamily.allCases.map(\.rawValue).joined(separator: ", ")) and a finite gain > 0")
            }
            // Files written before saturation and hue hold brightness, contrast and gamma only.
            let older = PhotometricFamily.allCases.prefix(3)
            guard let raw = file.byName["augmentation.photometric_raw_widths"], raw.values.allSatisfy(\.isFinite),
                  raw.shape == [families] || (raw.shape == [older.count] && learned.allSatisfy(older.contains)) else {
                throw fail("tensor \"augmentation.photometric_raw_widths\" of shape [\(families)] (or [\(older.count)] for a model of "
                    + "\(older.map(\.rawValue).joined(separator: ", ")) only) is missing")
            }
            // The map back from gain and offset: mean and std of a [0, 1] range.
            let adjustment = PhotometricAugmentation(learned: Set(learned), mean: saved.offset, std: saved.gain, low: 0, high: 1)
            raw.values.withUnsafeBufferPointer { adjustment.rawWidths.storage.pointer.update(from: $0.baseAddress!, count: raw.values.count) }
            photometric = adjustment
        }
        network.eval()
        return ModelFile(spec: spec, network: network, augmentation: augmentation, photometric: photometric,
                         task: file.metadata["task"] == "regression" ? .regression : .classification(classes: classes?.count ?? spec.outputs),
                         classes: classes, inputMean: mean, inputStd: std, inputShape: inputShape)
    }
}
