use wgpu::util::DeviceExt;
fn main() {
    let ctx = escapade::GpuContext::new().unwrap();
    let variant = std::env::args().nth(1).unwrap_or("min".into());
    let (pre, body) = match variant.as_str() {
        "min" => ("", "var a = xs[2u*c]; var b = xs[2u*c+1u]; for (var t = 0u; t < K; t++) { let g0 = a; let g1 = b*b*b - b; a = a - 0.01*g0; b = b - 0.01*g1; } xs[2u*c] = a; xs[2u*c+1u] = b;"),
        "funcarr" => ("", "var x: array<f32,2>; var g: array<f32,2>; x[0]=xs[2u*c]; x[1]=xs[2u*c+1u]; for (var t = 0u; t < K; t++) { g[0]=x[0]; g[1]=x[1]*x[1]*x[1]-x[1]; for (var i=0u;i<2u;i++){ x[i] = x[i] - 0.01*g[i]; } } xs[2u*c]=x[0]; xs[2u*c+1u]=x[1];"),
        "privarr" => ("var<private> x: array<f32,2>; var<private> g: array<f32,2>;", "x[0]=xs[2u*c]; x[1]=xs[2u*c+1u]; for (var t = 0u; t < K; t++) { g[0]=x[0]; g[1]=x[1]*x[1]*x[1]-x[1]; for (var i=0u;i<2u;i++){ x[i] = x[i] - 0.01*g[i]; } } xs[2u*c]=x[0]; xs[2u*c+1u]=x[1];"),
        "privptr" => ("var<private> x: array<f32,2>; var<private> g: array<f32,2>; fn obj(p: ptr<private, array<f32,2>>, q: ptr<private, array<f32,2>>) -> f32 { (*q)[0] = (*p)[0]; (*q)[1] = (*p)[1]*(*p)[1]*(*p)[1]-(*p)[1]; return (*p)[0]; }", "x[0]=xs[2u*c]; x[1]=xs[2u*c+1u]; for (var t = 0u; t < K; t++) { let f = obj(&x, &g); for (var i=0u;i<2u;i++){ x[i] = x[i] - 0.01*g[i]; } } xs[2u*c]=x[0]; xs[2u*c+1u]=x[1];"),
        "privptrloop" => ("var<private> x: array<f32,2>; var<private> g: array<f32,2>; fn obj(p: ptr<private, array<f32,2>>, q: ptr<private, array<f32,2>>) -> f32 { var f = 0.0; for (var i=0u;i<2u;i++) { (*q)[i] = (*p)[i] * f32(i+1u); f = f + (*p)[i]; } return f; }", "x[0]=xs[2u*c]; x[1]=xs[2u*c+1u]; for (var t = 0u; t < K; t++) { let f = obj(&x, &g); for (var i=0u;i<2u;i++){ x[i] = x[i] - 0.01*g[i]; } } xs[2u*c]=x[0]; xs[2u*c+1u]=x[1];"),
        "vecstate" => ("var<private> x: vec2<f32>; var<private> g: vec2<f32>; fn obj(p: ptr<private, vec2<f32>>, q: ptr<private, vec2<f32>>) -> f32 { var f = 0.0; for (var i=0u;i<2u;i++) { (*q)[i] = (*p)[i] * f32(i+1u); f = f + (*p)[i]; } return f; }", "x[0]=xs[2u*c]; x[1]=xs[2u*c+1u]; for (var t = 0u; t < K; t++) { let f = obj(&x, &g); for (var i=0u;i<2u;i++){ x[i] = x[i] - 0.01*g[i]; } } xs[2u*c]=x[0]; xs[2u*c+1u]=x[1];"),
        _ => panic!(),
    };
    let src = format!("const K: u32 = 2000u;\n@group(0) @binding(0) var<storage, read_write> xs: array<f32>;\n{pre}\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{ let c = gid.x; {body} }}");
    let n = 65536u32;
    let dev = &ctx.device;
    let m = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });
    let p = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &m, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
    let buf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(&vec![0.5f32; 2 * n as usize]), usage: wgpu::BufferUsages::STORAGE });
    let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &p.get_bind_group_layout(0), entries: &[wgpu::BindGroupEntry { binding: 0, resource: buf.as_entire_binding() }] });
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut enc = dev.create_command_encoder(&Default::default());
        { let mut pass = enc.begin_compute_pass(&Default::default()); pass.set_pipeline(&p); pass.set_bind_group(0, &bg, &[]); pass.dispatch_workgroups(n / 64, 1, 1); }
        ctx.queue.submit([enc.finish()]);
        ctx.wait().unwrap();
        best = best.max((n as f64 * 2000.0) / t.elapsed().as_secs_f64());
    }
    println!("{variant}: {best:.3e} chain-steps/s");
}
