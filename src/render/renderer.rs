//! The point renderer: draws a [`PointCloud`] into its own colour + depth targets (so it is
//! depth-tested whatever egui's pass has) during the paint callback's `prepare`, then
//! composites that colour target into egui's pass in `paint`.
//!
//! Pipelines, buffers and targets live in egui_wgpu's callback resources, created once.
//! The point buffer is re-created only when the cloud's version changes; targets only when
//! the panel's pixel size changes. Paint never unwraps: missing resources skip the draw.

use std::sync::Arc;

use egui_wgpu::wgpu;
use wgpu::util::DeviceExt;

use super::cloud::PointCloud;
use super::gpu_types::{PointGpu, PointUniforms};
use super::lift_gpu::LiftGpu;
use super::lines::{LineGpu, LineSet};

const POINTS_WGSL: &str = concat!(
    include_str!("../../shaders/point_struct.wgsl"),
    include_str!("../../shaders/points.wgsl")
);
const LIFT_WGSL: &str = concat!(
    include_str!("../../shaders/point_struct.wgsl"),
    include_str!("../../shaders/lift.wgsl")
);
const COMPOSITE_WGSL: &str = include_str!("../../shaders/composite.wgsl");
const LINES_WGSL: &str = include_str!("../../shaders/lines.wgsl");

/// Why a device of `limits` cannot run the 3-D view's pipelines (`None`: it can): the point
/// pipeline reads two storage buffers in the vertex stage, the lift three in a 256-wide
/// compute pass.
pub fn unsupported(l: &wgpu::Limits) -> Option<String> {
    if l.max_storage_buffers_per_shader_stage < 3 {
        return Some(format!(
            "{} storage buffers per shader stage (3 needed)",
            l.max_storage_buffers_per_shader_stage
        ));
    }
    if l.max_compute_invocations_per_workgroup < 256 || l.max_compute_workgroup_size_x < 256 {
        return Some("no compute workgroups of 256 (the depth lift needs them)".to_owned());
    }
    None
}

/// Every pipeline's WGSL as the device compiles it (name, source), for validation in tests.
pub fn shader_sources() -> [(&'static str, &'static str); 4] {
    [
        ("points", POINTS_WGSL),
        ("lift", LIFT_WGSL),
        ("lines", LINES_WGSL),
        ("composite", COMPOSITE_WGSL),
    ]
}
/// Capacity of the per-patch attention buffer (a 32 x 32 patch grid).
pub const MAX_PATCHES: usize = 1024;
pub const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Background of the 3-D view (linear RGB values written as-is).
const BACKGROUND: wgpu::Color = wgpu::Color {
    r: 0.06,
    g: 0.06,
    b: 0.07,
    a: 1.0,
};

struct Targets {
    size: [u32; 2],
    /// Kept for read-back (offscreen rendering).
    color_texture: wgpu::Texture,
    color_view: wgpu::TextureView,
    depth_view: wgpu::TextureView,
    composite_bind_group: wgpu::BindGroup,
}

/// Long-lived GPU state, stored in egui_wgpu's callback resources.
pub struct PointRenderer {
    /// Per-patch values for the attention colour mode (`MAX_PATCHES` f32).
    attention: wgpu::Buffer,
    points_pipeline: wgpu::RenderPipeline,
    lines_pipeline: wgpu::RenderPipeline,
    composite_pipeline: wgpu::RenderPipeline,
    points_layout: wgpu::BindGroupLayout,
    composite_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    uniforms: wgpu::Buffer,
    /// (cloud version, point count, bind group over the uniforms and that cloud's buffer)
    uploaded: Option<(u64, u32, wgpu::BindGroup)>,
    /// The same for the line set.
    lines_uploaded: Option<(u64, u32, wgpu::BindGroup)>,
    targets: Option<Targets>,
    /// Depth images lifted on the GPU.
    lift: LiftGpu,
    /// Point bytes uploaded so far (for tests and the status line).
    pub uploaded_bytes: u64,
    /// Line bytes uploaded so far.
    pub uploaded_line_bytes: u64,
}

impl PointRenderer {
    /// Creates the pipelines; `target_format` is egui's output format.
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let points_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("spatialscope points"),
            source: wgpu::ShaderSource::Wgsl(POINTS_WGSL.into()),
        });
        let lines_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("spatialscope lines"),
            source: wgpu::ShaderSource::Wgsl(LINES_WGSL.into()),
        });
        let composite_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("spatialscope composite"),
            source: wgpu::ShaderSource::Wgsl(COMPOSITE_WGSL.into()),
        });
        // Uniforms, the point or segment buffer, per-patch attention: all read by the vertex stage.
        let vertex_buffer =
            |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::VERTEX,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            };
        let storage = wgpu::BufferBindingType::Storage { read_only: true };
        let points_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("points"),
            entries: &[
                vertex_buffer(0, wgpu::BufferBindingType::Uniform),
                vertex_buffer(1, storage),
                vertex_buffer(2, storage),
            ],
        });
        let composite_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("composite"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline = |label: &str,
                        module: &wgpu::ShaderModule,
                        layout: &wgpu::BindGroupLayout,
                        format: wgpu::TextureFormat,
                        depth: bool| {
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(&pl),
                vertex: wgpu::VertexState {
                    module,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: depth.then(|| wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(true),
                    depth_compare: Some(wgpu::CompareFunction::Less),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(format.into())],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let points_pipeline =
            pipeline("points", &points_module, &points_layout, COLOR_FORMAT, true);
        // Same bindings as the points (uniforms + one storage buffer).
        let lines_pipeline = pipeline("lines", &lines_module, &points_layout, COLOR_FORMAT, true);
        let lift_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("spatialscope lift"),
            source: wgpu::ShaderSource::Wgsl(LIFT_WGSL.into()),
        });
        let lift = LiftGpu::new(device, &lift_module);
        let composite_pipeline = pipeline(
            "composite",
            &composite_module,
            &composite_layout,
            target_format,
            false,
        );
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("point uniforms"),
            size: size_of::<PointUniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor::default());
        let attention = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("patch attention"),
            size: (MAX_PATCHES * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            attention,
            points_pipeline,
            lines_pipeline,
            composite_pipeline,
            points_layout,
            composite_layout,
            sampler,
            uniforms,
            uploaded: None,
            lines_uploaded: None,
            targets: None,
            lift,
            uploaded_bytes: 0,
            uploaded_line_bytes: 0,
        }
    }

    fn ensure_cloud(&mut self, device: &wgpu::Device, cloud: &PointCloud) {
        if self.uploaded.as_ref().is_some_and(|u| u.0 == cloud.version) {
            return;
        }
        // A storage binding may not be empty: keep one zeroed point for an empty cloud.
        let drawn = cloud.drawn_points();
        let data: &[PointGpu] = if drawn.is_empty() {
            &[PointGpu {
                position: [0.0; 3],
                rgb: 0,
                depth_m: 0.0,
                camera: 0,
                cam_xy: [0.0; 2],
            }]
        } else {
            drawn
        };
        if !drawn.is_empty() {
            self.uploaded_bytes += size_of_val(data) as u64;
        }
        let bind_group = self.storage_bind_group(device, "points", bytemuck::cast_slice(data));
        self.uploaded = Some((cloud.version, drawn.len() as u32, bind_group));
    }

    /// Uploads `bytes` as the storage buffer of a bind group over the shared uniforms and
    /// attention buffer (the layout both the point and the line pipelines use).
    fn storage_bind_group(
        &self,
        device: &wgpu::Device,
        label: &str,
        bytes: &[u8],
    ) -> wgpu::BindGroup {
        let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE,
        });
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &self.points_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: self.uniforms.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: self.attention.as_entire_binding(),
                },
            ],
        })
    }

    fn ensure_lines(&mut self, device: &wgpu::Device, lines: &LineSet) {
        if self
            .lines_uploaded
            .as_ref()
            .is_some_and(|u| u.0 == lines.version)
        {
            return;
        }
        let empty = [LineGpu {
            a: [0.0; 3],
            rgba: 0,
            b: [0.0; 3],
            width_px: 0.0,
        }];
        let data: &[LineGpu] = if lines.segments.is_empty() {
            &empty
        } else {
            &lines.segments
        };
        self.uploaded_line_bytes += size_of_val(data) as u64;
        let bind_group = self.storage_bind_group(device, "lines", bytemuck::cast_slice(data));
        self.lines_uploaded = Some((lines.version, lines.segments.len() as u32, bind_group));
    }

    fn ensure_targets(&mut self, device: &wgpu::Device, size: [u32; 2]) {
        if self.targets.as_ref().is_some_and(|t| t.size == size) {
            return;
        }
        let texture = |format, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some("3-D view target"),
                size: wgpu::Extent3d {
                    width: size[0],
                    height: size[1],
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let color_texture = texture(
            COLOR_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
        );
        let color_view = color_texture.create_view(&wgpu::TextureViewDescriptor::default());
        let depth_view = texture(DEPTH_FORMAT, wgpu::TextureUsages::RENDER_ATTACHMENT)
            .create_view(&wgpu::TextureViewDescriptor::default());
        let composite_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("composite"),
            layout: &self.composite_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&color_view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        self.targets = Some(Targets {
            size,
            color_texture,
            color_view,
            depth_view,
            composite_bind_group,
        });
    }

    /// Renders `cloud` and `lines` with `uniforms` into the offscreen targets of `size`
    /// pixels.
    #[expect(
        clippy::too_many_arguments,
        reason = "the GPU handles, the targets and the draw data of one frame"
    )]
    pub fn render(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        cloud: &PointCloud,
        lines: &LineSet,
        attention: Option<&[f32]>,
        uniforms: &PointUniforms,
        size: [u32; 2],
    ) {
        let size = [size[0].clamp(1, 8192), size[1].clamp(1, 8192)];
        self.ensure_cloud(device, cloud);
        self.lift.prepare(
            device,
            queue,
            encoder,
            cloud.lift.as_deref().map(|l| (cloud.version, l)),
            &self.points_layout,
            [&self.uniforms, &self.attention],
        );
        self.ensure_lines(device, lines);
        if let Some(values) = attention {
            let n = values.len().min(MAX_PATCHES);
            queue.write_buffer(&self.attention, 0, bytemuck::cast_slice(&values[..n]));
        }
        self.ensure_targets(device, size);
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(uniforms));
        let (Some(targets), Some((_, count, bind_group))) = (&self.targets, &self.uploaded) else {
            return;
        };
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("points"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &targets.color_view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(BACKGROUND),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &targets.depth_view,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        if *count > 0 {
            pass.set_pipeline(&self.points_pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.draw(0..count * 6, 0..1);
        }
        self.lift.draw(&mut pass, &self.points_pipeline);
        if let Some((_, n, lines_group)) = &self.lines_uploaded
            && *n > 0
        {
            pass.set_pipeline(&self.lines_pipeline);
            pass.set_bind_group(0, lines_group, &[]);
            pass.draw(0..n * 6, 0..1);
        }
    }

    /// Depth and RGB bytes uploaded so far for clouds the GPU lifts.
    pub fn uploaded_image_bytes(&self) -> u64 {
        self.lift.uploaded_bytes
    }

    /// Depth images the GPU holds and lifts now.
    pub fn lifted_images(&self) -> usize {
        self.lift.images()
    }

    /// The colour target of the last render (Rgba8Unorm), for read-back.
    pub fn color_texture(&self) -> Option<&wgpu::Texture> {
        self.targets.as_ref().map(|t| &t.color_texture)
    }

    fn composite(&self, pass: &mut wgpu::RenderPass<'static>) {
        let Some(t) = &self.targets else { return };
        pass.set_pipeline(&self.composite_pipeline);
        pass.set_bind_group(0, &t.composite_bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

/// The per-frame paint callback: what to draw, cheap to build.
pub struct PointCloudCallback {
    pub cloud: Arc<PointCloud>,
    pub lines: Arc<LineSet>,
    /// Per-patch values: attention weights for the attention colour mode; for the patch
    /// colour mode packed RGBA8 colours carried as `f32::from_bits` (written to the GPU as
    /// the same bytes, read there as `u32`; never computed with as floats).
    pub attention: Option<Arc<Vec<f32>>>,
    pub uniforms: PointUniforms,
    pub size_px: [u32; 2],
}

impl egui_wgpu::CallbackTrait for PointCloudCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        match resources.get_mut::<PointRenderer>() {
            Some(r) => r.render(
                device,
                queue,
                encoder,
                &self.cloud,
                &self.lines,
                self.attention.as_deref().map(Vec::as_slice),
                &self.uniforms,
                self.size_px,
            ),
            None => log::warn!("3-D view: no point renderer registered; skipping the draw"),
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(r) = resources.get::<PointRenderer>() {
            r.composite(pass);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webgl2_level_devices_are_refused_and_default_ones_accepted() {
        assert!(unsupported(&wgpu::Limits::default()).is_none());
        assert!(unsupported(&wgpu::Limits::downlevel_defaults()).is_none());
        let why = unsupported(&wgpu::Limits::downlevel_webgl2_defaults()).expect("refused");
        assert!(why.contains("storage buffers"), "{why}");
    }
}
