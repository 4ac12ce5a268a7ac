import ArgumentParser
import Foundation
import Kernels
import NN

/// `augerino bench conv`: forward + both backward passes of the smallnet convolutions
/// (3×3, padding 1), compared with this build's own SGEMM rate at 1024³ measured in the same run.
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Convolution forward+backward GFLOP/s at the smallnet layer shapes.",
        discussion: """
            Layers of smallnet(k) on 28x28 inputs: 1→k and k→k and k→2k at 28x28, 2k→2k at 14x14 \
            and 7x7. Each layer's forward, backward-to-input and backward-to-weights are timed \
            separately; the total is 3 × forward FLOPs over the summed medians. The last line \
            gives the ratio to SGEMM 1024³ at the same thread count.
            """)

    @Option(help: "Channel width k of smallnet.")
    var width: Int = 128

    @Option(help: "Batch size.")
    var batch: Int = 50

    @OptionGroup var threading: ThreadOption

    @Option(help: "Seconds spent timing each pass of each layer.")
    var seconds: Double = 1

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func validate() throws {
        guard (1...1024).contains(width) else { throw ValidationError("--width \(width): must be from 1 to 1024") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch \(batch): must be from 1 to 4096") }
        guard seconds > 0 else { throw ValidationError("--seconds \(seconds): must be positive") }
    }

    func run() throws {
        let parallelism = try threading.parallelism()
        let k = width
        let layers: [(String, Conv2DShape)] = [
            ("1→k 28x28", 1, k, 28), ("k→k 28x28", k, k, 28), ("k→2k 28x28", k, 2 * k, 28),
            ("2k→2k 14x14", 2 * k, 2 * k, 14), ("2k→2k 7x7", 2 * k, 2 * k, 7),
        ].map { name, cin, cout, size in
            (name, Conv2DShape(batch: batch, inChannels: cin, height: size, width: size, outChannels: cout, kernelSize: 3, padding: 1))
        }
        if !json { print("conv2d 3x3 pad 1, smallnet k=\(k), batch \(batch), \(parallelism), tile \(GemmKernel.selected)") }
        var totalFlops = 0.0, totalSeconds = 0.0
        for (name, shape) in layers {
            let timing = try timeLayer(shape, parallelism: parallelism)
            let flops = shape.forwardFlops
            let seconds = timing.forward + timing.backwardInput + timing.backwardWeights
            totalFlops += 3 * flops
            totalSeconds += seconds
            if json {
                print(BenchTiming.jsonLine([
                    ("layer", name), ("batch", batch), ("threads", parallelism.threads),
                    ("forward_gflops", flops / timing.forward / 1e9), ("backward_input_gflops", flops / timing.backwardInput / 1e9),
                    ("backward_weights_gflops", flops / timing.backwardWeights / 1e9), ("gflops", 3 * flops / seconds / 1e9)]))
            } else {
                print(String(format: "  %-12@ forward %6.1f  ∂input %6.1f  ∂weights %6.1f  all %6.1f GFLOP/s",
                             name as NSString, flops / timing.forward / 1e9, flops / timing.backwardInput / 1e9,
                             flops / timing.backwardWeights / 1e9, 3 * flops / seconds / 1e9))
            }
        }
        let convRate = totalFlops / totalSeconds / 1e9
        let gemmRate = sgemmRate1024(parallelism)
        if json {
            print(BenchTiming.jsonLine([("layer", "total"), ("batch", batch), ("threads", parallelism.threads),
                                        ("gflops", convRate), ("gemm_gflops", gemmRate), ("ratio_to_gemm", convRate / gemmRate)]))
        } else {
            print(String(format: "  total        %6.1f GFLOP/s; SGEMM 1024³ %6.1f GFLOP/s; ratio %.2f", convRate, gemmRate, convRate / gemmRate))
        }
    }

    /// Median seconds of each pass, after checking the forward pass and ∂weights on sampled entries.
    private func timeLayer(_ s: Conv2DShape, parallelism: Parallelism) throws -> (forward: Double, backwardInput: Double, backwardWeights: Double) {
        var random = RandomGenerator(seed: 7)
        let x = (0..<s.inputCount).map { _ in random.nextFloat(in: -1..<1) }
        let w = (0..<s.weightCount).map { _ in random.nextFloat(in: -0.1..<0.1) }
        let b = (0..<s.outChannels).map { _ in random.nextFloat(in: -1..<1) }
        let dy = (0..<s.outputCount).map { _ in random.nextFloat(in: -1..<1) }
        var y = [Float](repeating: 0, count: s.outputCount), dx = [Float](repeating: 0, count: s.inputCount)
        var dw = [Float](repeating: 0, count: s.weightCount), db = [Float](repeating: 0, count: s.outChannels)
        let forward = { x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in b.withUnsafeBufferPointer { pb in y.withUnsafeMutableBufferPointer { py in
            conv2dForward(s, input: px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, output: py.baseAddress!, parallelism: parallelism)
        } } } } }
        let backwardInput = { dy.withUnsafeBufferPointer { pdy in w.withUnsafeBufferPointer { pw in dx.withUnsafeMutableBufferPointer { pdx in
            conv2dBackwardInput(s, gradOutput: pdy.baseAddress!, weight: pw.baseAddress!, gradInput: pdx.baseAddress!, parallelism: parallelism)
        } } } }
        let backwardWeights = { x.withUnsafeBufferPointer { px in dy.withUnsafeBufferPointer { pdy in dw.withUnsafeMutableBufferPointer { pdw in db.withUnsafeMutableBufferPointer { pdb in
            conv2dBackwardWeights(s, input: px.baseAddress!, gradOutput: pdy.baseAddress!, gradWeight: pdw.baseAddress!,
                                  gradBias: pdb.baseAddress!, parallelism: parallelism)
        } } } } }
        forward()
        for _ in 0..<32 {
            let n = random.nextInt(below: s.batch), k = random.nextInt(below: s.outChannels)
            let oh = random.nextInt(below: s.outHeight), ow = random.nextInt(below: s.outWidth)
            var sum = Double(b[k]), scale = 0.0
            for c in 0..<s.inChannels { for r in 0..<3 { for t in 0..<3 {
                let ih = oh - 1 + r, iw = ow - 1 + t
                guard ih >= 0 && ih < s.height && iw >= 0 && iw < s.width else { continue }
                let term = Double(x[((n * s.inChannels + c) * s.height + ih) * s.width + iw]) * Double(w[((k * s.inChannels + c) * 3 + r) * 3 + t])
                sum += term; scale += abs(term)
            } } }
            let got = y[((n * s.outChannels + k) * s.outHeight + oh) * s.outWidth + ow]
            if abs(Double(got) - sum) > 1e-4 * scale + 1e-5 {
                throw ValidationError("conv2d \(s) gave \(got) at (\(n), \(k), \(oh), \(ow)) but the reference is \(sum); not timing a wrong kernel")
            }
        }
        // ∂weights as well (Winograd's on the wide layers): sampled entries against the sum over
        // the batch and the plane, from one pass into zeros.
        backwardWeights()
        for _ in 0..<8 {
            let k = random.nextInt(below: s.outChannels), c = random.nextInt(below: s.inChannels)
            let r = random.nextInt(below: 3), t = random.nextInt(below: 3)
            var sum = 0.0, scale = 0.0
            for n in 0..<s.batch { for oh in 0..<s.outHeight { for ow in 0..<s.outWidth {
                let ih = oh - 1 + r, iw = ow - 1 + t
                guard ih >= 0 && ih < s.height && iw >= 0 && iw < s.width else { continue }
                let term = Double(dy[((n * s.outChannels + k) * s.outHeight + oh) * s.outWidth + ow]) * Double(x[((n * s.inChannels + c) * s.height + ih) * s.width + iw])
                sum += term; scale += abs(term)
            } } }
            let got = dw[((k * s.inChannels + c) * 3 + r) * 3 + t]
            if abs(Double(got) - sum) > 1e-4 * scale + 1e-5 {
                throw ValidationError("conv2d \(s) ∂weights gave \(got) at (\(k), \(c), \(r), \(t)) but the reference is \(sum); not timing a wrong kernel")
            }
        }
        return (BenchTiming.median(BenchTiming.measure(seconds: seconds, forward)),
                BenchTiming.median(BenchTiming.measure(seconds: seconds, backwardInput)),
                BenchTiming.median(BenchTiming.measure(seconds: seconds, backwardWeights)))
    }
}
