import ArgumentParser
import Bundle
import Foundation
import Invariance
import Kernels
import NN

/// `augerino predict`: class probabilities (or the regressed value) for images, from a model
/// file written by `augerino train`, averaging over augmented copies.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict with a trained model: top classes with probabilities, or the regressed value.",
        discussion: """
            Each INPUT is a PNG image, or an IDX (gzip-compressed or not) or NPY file of one \
            image (H×W or C×H×W) or of many (N×H×W or N×C×H×W), stored as the training data was \
            (the model standardises with the training statistics); the format is told by content. Probabilities are the softmax of the log-probabilities \
            averaged over --copies augmented copies (0: one pass without augmentation).
            """)

    @Argument(help: "model.safetensors written by augerino train.")
    var model: String

    @Argument(help: "PNG, IDX or NPY files with the images to classify.")
    var inputs: [String]

    @Option(help: "Augmented copies averaged per image (0: no augmentation).")
    var copies: Int = 4

    @Option(help: "Classes shown per image.")
    var top: Int = 3

    @Option(help: "Seed for the augmentation samples.")
    var seed: UInt64 = 0

    @Flag(help: "One JSON object per image instead of text.")
    var json = false

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one INPUT file") }
        guard (0...1024).contains(copies) else { throw ValidationError("--copies \(copies): must be from 0 to 1024") }
        guard top >= 1 else { throw ValidationError("--top \(top): must be at least 1") }
    }

    func run() throws {
        let model = try ModelFile.read(from: URL(fileURLWithPath: self.model))
        let (c, h, w) = (model.inputShape[0], model.inputShape[1], model.inputShape[2])
        var random = RandomGenerator(seed: seed)
        for input in inputs {
            let array = try InputFile.read(URL(fileURLWithPath: input))
            let tail = Array(array.shape.suffix(c == 1 && array.shape.count <= 3 ? 2 : 3))
            guard tail == (c == 1 && array.shape.count <= 3 ? [h, w] : [c, h, w]) else {
                throw CommandFailure("\(input): images of shape \(array.shape) do not fit the model, which reads \(c)×\(h)×\(w); give images of that size (N×\(h)×\(w)\(c == 1 ? "" : " with \(c) channels first"))")
            }
            let count = array.values.count / (c * h * w)
            let x = Tensor(shape: [count, c, h, w], values: array.values.map { ($0 - model.inputMean) / model.inputStd })
            let scores = TensorContext.with(try Parallelism.fromEnvironment()) { model.predictor.predict(x, copies: copies, random: &random) }
            let values = scores.values, width = scores.shape[1]
            for image in 0..<count {
                let row = Array(values[(image * width)..<((image + 1) * width)])
                let label = count == 1 ? input : "\(input)[\(image)]"
                if model.task == .regression {
                    print(json ? BenchTiming.jsonLine([("input", label), ("value", Double(row[0]))]) : "\(label): \(row[0])")
                    continue
                }
                let top = row.max() ?? 0
                let exps = row.map { exp(Double($0 - top)) }
                let total = exps.reduce(0, +)
                let ranked = exps.indices.sorted { exps[$0] > exps[$1] }.prefix(self.top)
                let names = model.classes ?? (0..<width).map(String.init)
                if json {
                    let entries = ranked.map { "{\"class\": \"\(names[$0])\", \"probability\": \(String(format: "%.6f", exps[$0] / total))}" }
                    print("{\"input\": \"\(label)\", \"top\": [\(entries.joined(separator: ", "))]}")
                } else {
                    print("\(label): " + ranked.map { String(format: "%@ %.1f%%", names[$0] as NSString, 100 * exps[$0] / total) }.joined(separator: ", "))
                }
            }
        }
    }
}
