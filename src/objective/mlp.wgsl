// Multilayer perceptron; twin of src/objective/mlp.rs. `data` holds the training rows' features
// (MLP_ROWS x MLP_IN, row-major) and then their labels (as f32). The MLP_* constants are generated
// in front of this file; after it, the layers unrolled with their sizes and offsets as constants
// (`mlp_row`, `mlp_regularise`: Mlp::wgsl_source). Transcendentals are taken in f32, as
// everywhere on the GPU (Vulkan has no f64 tanh, exp or log).

struct MlpRow { loss: real, k: u32 }

// The hidden activation and its derivative at z (activation 0 tanh, 1 softplus, 2 GELU's tanh form).
fn mlp_sigma(z: real) -> vec2<real> {
    if (MLP_ACTIVATION == 0u) {
        let t = real(tanh(f32(clamp(z, -MLP_TANH_CLAMP, MLP_TANH_CLAMP))));
        return vec2<real>(t, 1.0 - t * t);
    }
    if (MLP_ACTIVATION == 1u) {
        let e = real(exp(f32(-abs(z))));
        return vec2<real>(max(z, 0.0) + real(log(f32(1.0 + e))), 1.0 / (1.0 + real(exp(f32(-z)))));
    }
    let c: real = 0.7978845608028654;
    let k: real = 0.044715;
    let u = c * (z + k * z * z * z);
    let t = real(tanh(f32(clamp(u, -MLP_TANH_CLAMP, MLP_TANH_CLAMP))));
    return vec2<real>(0.5 * z * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * c * (1.0 + 3.0 * k * z * z));
}

// The loss of logits z (in `delta`) against class y; `delta` becomes dloss/dz. Also the predicted
// class (the first largest logit).
fn mlp_loss(delta: ptr<function, array<real, MLP_WIDTH>>, y: u32) -> MlpRow {
    var k = 0u;
    for (var i = 1u; i < MLP_CLASSES; i++) {
        if ((*delta)[i] > (*delta)[k]) {
            k = i;
        }
    }
    let zy = (*delta)[y];
    if (MLP_CROSS_ENTROPY) {
        let m = (*delta)[k];
        var sum: real = 0.0;
        for (var i = 0u; i < MLP_CLASSES; i++) {
            (*delta)[i] = real(exp(f32((*delta)[i] - m)));
            sum = sum + (*delta)[i];
        }
        for (var i = 0u; i < MLP_CLASSES; i++) {
            (*delta)[i] = (*delta)[i] / sum;
        }
        (*delta)[y] = (*delta)[y] - 1.0;
        return MlpRow(m + real(log(f32(sum))) - zy, k);
    }
    var loss: real = 0.0;
    for (var i = 0u; i < MLP_CLASSES; i++) {
        (*delta)[i] = (*delta)[i] - select(real(0.0), real(1.0), i == y);
        loss = loss + (*delta)[i] * (*delta)[i];
    }
    return MlpRow(0.5 * loss, k);
}

fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    for (var i = 0u; i < D; i++) {
        (*g)[i] = 0.0;
    }
    var f: real = 0.0;
    var seen = 0u;
    for (var r = 0u; r < MLP_ROWS; r++) {
        let row = mlp_row(x, r, MLP_INV_N, g);
        f = f + row.loss;
        seen = seen | (1u << row.k);
    }
    f = f * MLP_INV_N + mlp_regularise(x, g);
    return Eval(f, countOneBits(seen), 1u);
}

fn objective_term_grad(x: ptr<private, array<real, D>>, k: u32, acc: ptr<private, array<real, D>>) {
    mlp_row(x, k, 1.0, acc);
    mlp_regularise(x, acc);
}
