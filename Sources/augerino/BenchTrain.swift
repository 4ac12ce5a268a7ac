import ArgumentParser
import Foundation
import Invariance
import Kernels
import NN

/// `augerino bench train`: training and evaluation images/s of the paper's networks on random
/// inputs, the same workload as ../shared/bench/train_torch.py.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training and evaluation images/s and peak memory of smallnet or simpleconv.",
        discussion: """
            Each timed training step is forward, cross-entropy, backward and an Adam step (weight \
            decay 1e-4) on a random batch; each evaluation step averages the log-softmax of \
            --copies copies of a batch in evaluation mode. With --augment every image is first \
            warped by the learned affine augmentation (all six generators, widths trained with \
            reward 0.01·‖θ‖) in training and in evaluation; --photometric adds brightness, \
            contrast, gamma, saturation and hue after the warp (the last two on simpleconv's three \
            channels; their widths in the same reward); --mirrors adds the three mirrors, each drawn \
            with a learned probability in the same warp (its score-function gradient, and 2p in \
            the reward). Reports medians, like \
            ../shared/bench/train_torch.py, with the same JSON keys. \
            The roofline line divides the training step's useful rate (the FLOPs of a direct \
            convolution and of the linear layers: forward, ∂weights, and ∂input wherever the \
            input needs a gradient) by this build's SGEMM rate at 1024³ measured in the same run.
            """)

    enum Model: String, ExpressibleByArgument, CaseIterable {
        case smallnet, simpleconv
    }

    @Option(help: "Network: smallnet (1x28x28, 10 classes) or simpleconv (3x32x32, 4 classes).")
    var model: Model = .smallnet

    @Option(help: "Channel width k (smallnet) or c (simpleconv).")
    var width: Int = 128

    @Option(help: "Batch size.")
    var batch: Int = 50

    @OptionGroup var threading: ThreadOption

    @Option(help: "Timed training steps.")
    var steps: Int = 30

    @Option(help: "Untimed warm-up steps.")
    var warmup: Int = 3

    @Option(help: "Copies averaged per image at evaluation.")
    var copies: Int = 4

    @Flag(help: "Warp every image with the learned affine augmentation, as train_torch.py does without --no-augment.")
    var augment = false

    @Flag(help: "With --augment, also adjust brightness, contrast, gamma, saturation and hue after the warp (train_torch.py has no counterpart).")
    var photometric = false

    @Flag(help: "With --augment, also mirror left–right, top–bottom and transpose with learned probabilities (train_torch.py has no counterpart).")
    var mirrors = false

    @Flag(help: "One JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (1...1024).contains(width) else { throw ValidationError("--width \(width): must be from 1 to 1024") }
        guard (2...4096).contains(batch) else { throw ValidationError("--batch \(batch): must be from 2 to 4096 (batch norm needs two images)") }
        guard !photometric || augment else { throw ValidationError("--photometric adds to the learned augmentation: give --augment too") }
        guard !mirrors || augment else { throw ValidationError("--mirrors adds to the learned augmentation: give --augment too") }
        guard steps >= 1, warmup >= 0, copies >= 1 else { throw ValidationError("--steps and --copies must be at least 1, --warmup at least 0") }
    }

    func run() throws {
        let parallelism = try threading.parallelism()
        let (channels, size, classes) = model == .smallnet ? (1, 28, 10) : (3, 32, 4)
        let spec = NetworkSpec(architecture: model == .smallnet ? .smallnet : .simpleconv, width: width,
                               inputChannels: channels, outputs: classes, dropout: model == .smallnet ? 0.3 : 0)
        var random = RandomGenerator(seed: 0)
        let net = spec.makeNetwork(random: &random)
        let symmetry = mirrors ? SymmetryAugmentation(learned: Set(SymmetryFamily.allCases)) : nil
        let augmentation = AffineAugmentation(defaultWidth: Float(log(2.0)), symmetry: symmetry)  // w = 0, as train_torch.py
        // The random inputs span [−1.7, 1.7): that range is black to white.
        let adjustment = photometric ? PhotometricAugmentation(learned: Set(PhotometricFamily.allCases), defaultWidth: Float(log(2.0)),
                                                               mean: 0, std: 1, low: -1.7, high: 1.7) : nil
        let optimizer = Adam([ParameterGroup(net.parameters.map(\.tensor), learningRate: 0.01, weightDecay: 1e-4),
                              ParameterGroup(augment ? [augmentation.rawWidths] + (adjustment.map { [$0.rawWidths] } ?? [])
                                                 + (symmetry.map { [$0.rawLogits] } ?? []) : [],
                                             learningRate: 0.01, weightDecay: 0)])
        func augmented(_ x: Tensor) -> (Tensor, [SymmetryElement]?) {
            let (transforms, drawn) = augmentation.sampleTransformsAndMirrors(count: x.shape[0], random: &random)
            let warped = Tensor.affineWarp(x, theta: transforms)
            return (adjustment.map { $0(warped, random: &random) } ?? warped, drawn)
        }
        func randomBatch() -> (Tensor, [Int32]) {
            let x = Tensor(shape: [batch, channels, size, size], values: (0..<(batch * channels * size * size)).map { _ in random.nextFloat(in: -1.7..<1.7) })
            return (x, (0..<batch).map { _ in Int32(random.nextInt(below: classes)) })
        }

        let (trainTimes, evalTimes) = try TensorContext.with(parallelism) { () throws -> ([Double], [Double]) in
            net.train()
            var trainTimes: [Double] = []
            for step in 0..<(warmup + steps) {
                let (x, labels) = randomBatch()
                let start = monotonicSeconds()
                let (input, drawn) = augment ? augmented(x) : (x, nil)
                let output = net(input, random: &random)
                var loss = Tensor.crossEntropy(output, labels: labels)
                if augment {
                    let widths = augmentation.widths
                    let others = [adjustment?.widths, symmetry.map { $0.probabilities.scaled(by: 2) }].compactMap { $0 }
                    let norm = others.isEmpty ? widths.norm() : others.reduce((widths * widths).sum()) { $0 + ($1 * $1).sum() }.squareRoot()
                    loss = loss - norm.scaled(by: 0.01)
                    if let symmetry, let drawn {
                        let losses = InvarianceTrainer.exampleLosses(output, targets: labels.map(Float.init), task: .classification(classes: classes))
                        loss = loss + symmetry.surrogate(gradient: symmetry.scoreFunctionGradient(losses: losses, draws: drawn))
                    }
                }
                optimizer.zeroGradients()
                loss.backward()
                optimizer.step()
                let elapsed = monotonicSeconds() - start
                guard loss.item.isFinite else {
                    throw ValidationError("training diverged (loss \(loss.item) at step \(step)); not reporting a speed")
                }
                if step >= warmup { trainTimes.append(elapsed) }
            }
            net.eval()
            var evalTimes: [Double] = []
            for step in 0..<(2 + max(3, steps / 3)) {
                let (x, _) = randomBatch()
                let start = monotonicSeconds()
                _ = TensorContext.withoutGradients { () -> Tensor in
                    let copiesOfX = Tensor.concatenate(Array(repeating: x, count: copies))
                    return AveragedPredictor.meanOverCopies(net, augment ? augmented(copiesOfX).0 : copiesOfX, copies: copies) { $0.logSoftmax() }
                }
                if step >= 2 { evalTimes.append(monotonicSeconds() - start) }
            }
            return (trainTimes.sorted(), evalTimes.sorted())
        }
        let trainRate = Double(batch) / trainTimes[trainTimes.count / 2]
        let evalRate = Double(batch) / evalTimes[evalTimes.count / 2]
        let peak = peakResidentMiB()
        let stepGFLOPs = trainRate * usefulTrainingFLOPsPerImage(net, inputShape: [1, channels, size, size], inputNeedsGradient: augment) / 1e9
        let gemmRate = sgemmRate1024(parallelism)
        if json {
            print(BenchTiming.jsonLine([("impl", "augerino"), ("model", model.rawValue), ("width", width), ("batch", batch),
                                        ("threads", parallelism.threads), ("augment", augment)] + (photometric ? [("photometric", true)] : [])
                                       + (mirrors ? [("mirrors", true)] : [])
                                       + [("copies", copies),
                                        ("train_images_per_s", trainRate), ("eval_images_per_s", evalRate), ("peak_rss_mib", peak),
                                        ("train_gflops", stepGFLOPs), ("sgemm_1024_gflops", gemmRate),
                                        ("roofline", stepGFLOPs / gemmRate)]))
        } else {
            let extras = (photometric ? ["photometric"] : []) + (mirrors ? ["mirror"] : [])
            let augmentationText = !augment ? "no augmentation" : extras.isEmpty ? "learned augmentation"
                : "learned " + (["affine"] + extras).joined(separator: ", ") + " augmentation"
            print("\(model.rawValue) width \(width), batch \(batch), \(augmentationText), \(parallelism), tile \(GemmKernel.selected)")
            print(String(format: "  train %8.1f images/s   eval (%d copies) %8.1f images/s   peak RSS %.0f MiB", trainRate, copies, evalRate, peak))
            print(String(format: "  roofline: training %.1f useful GFLOP/s; SGEMM 1024³ %.1f GFLOP/s; ratio %.2f", stepGFLOPs, gemmRate, stepGFLOPs / gemmRate))
        }
    }
}

/// The multiply-adds (×2) a training step needs per image from its convolutions and linear
/// layers, counted as a direct convolution does: each layer's forward and ∂weights, and its
/// ∂input unless it is the first layer and the images need no gradient (no augmentation to learn).
/// Shapes come from passing one image through the layers in evaluation mode.
func usefulTrainingFLOPsPerImage(_ net: Sequential, inputShape: [Int], inputNeedsGradient: Bool) -> Double {
    var random = RandomGenerator(seed: 0)
    let modes = net.layers.map(\.isTraining)
    defer { for (layer, mode) in zip(net.layers, modes) { layer.isTraining = mode } }
    for layer in net.layers { layer.isTraining = false }
    return TensorContext.withoutGradients { () -> Double in
        var x = Tensor(shape: inputShape, values: [Float](repeating: 0, count: inputShape.reduce(1, *)))
        var total = 0.0, first = true
        for layer in net.layers {
            let y = layer.forward(x, random: &random)
            let forward: Double
            switch layer {
            case let conv as Conv2d:
                let w = conv.weight.shape  // [out, in, kh, kw]
                forward = 2 * Double(w.reduce(1, *)) * Double(y.shape[2] * y.shape[3])
            case let linear as Linear:
                forward = 2 * Double(linear.weight.shape.reduce(1, *))
            default:
                forward = 0
            }
            if forward > 0 {
                total += forward * (first && !inputNeedsGradient ? 2 : 3)
                first = false
            }
            x = y
        }
        return total
    }
}

/// Peak resident memory of this process so far, in MiB.
func peakResidentMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

func monotonicSeconds() -> Double { BenchTiming.now() }
