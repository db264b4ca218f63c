//! Offscreen rendering: the same point + line renderer as the app's 3-D view, on a wgpu
//! device without a surface (no window, no X server), read back into an RGBA image. Used by
//! `spatialscope render` and by tests; on machines without a GPU it runs on Mesa's software
//! Vulkan (lavapipe) when installed, and says clearly when no adapter exists at all.

use egui_wgpu::wgpu;

use super::lines::LineSet;
use super::renderer::{COLOR_FORMAT, PointRenderer};
use super::{PointCloud, PointUniforms};

/// A device and a renderer, reused across frames.
pub struct Offscreen {
    device: wgpu::Device,
    queue: wgpu::Queue,
    renderer: PointRenderer,
    /// Adapter name and backend, for messages.
    pub adapter: String,
}

impl Offscreen {
    /// Finds an adapter (hardware first, else a software one) and creates the renderer.
    pub fn new() -> Result<Self, String> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            ..Default::default()
        }))
        .map_err(|e| {
            format!(
                "no GPU adapter for offscreen rendering ({e}); on a machine without a GPU install \
                 Mesa's software Vulkan driver (apt-get install mesa-vulkan-drivers libvulkan1)"
            )
        })?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("spatialscope offscreen"),
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| format!("cannot create a device on {}: {e}", info.name))?;
        if let Some(why) = super::renderer::unsupported(&device.limits()) {
            return Err(format!("{} cannot draw the 3-D view: {why}", info.name));
        }
        // Shader or pipeline errors become a message instead of wgpu's default panic.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let renderer = PointRenderer::new(&device, COLOR_FORMAT);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(format!(
                "the 3-D pipelines failed to build on {}: {e}",
                info.name
            ));
        }
        Ok(Offscreen {
            device,
            queue,
            renderer,
            adapter: format!("{} ({:?})", info.name, info.backend),
        })
    }

    /// The renderer (its upload counters).
    pub fn renderer(&self) -> &PointRenderer {
        &self.renderer
    }

    /// Renders one frame of `size` pixels and reads it back.
    pub fn render(
        &mut self,
        cloud: &PointCloud,
        lines: &LineSet,
        attention: Option<&[f32]>,
        uniforms: &PointUniforms,
        size: [u32; 2],
    ) -> Result<image::RgbaImage, String> {
        let [w, h] = [size[0].clamp(1, 8192), size[1].clamp(1, 8192)];
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("offscreen"),
            });
        self.renderer.render(
            &self.device,
            &self.queue,
            &mut encoder,
            cloud,
            lines,
            attention,
            uniforms,
            [w, h],
        );
        let texture = self.renderer.color_texture().ok_or("no render target")?;
        // Rows of a texture-to-buffer copy are padded to 256 bytes.
        let row = w * 4;
        let padded =
            row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size: u64::from(padded) * u64::from(h),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded),
                    rows_per_image: Some(h),
                },
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| format!("GPU poll failed: {e}"))?;
        rx.recv()
            .map_err(|_| "read-back never completed".to_owned())?
            .map_err(|e| format!("read-back failed: {e}"))?;
        let view = buffer
            .get_mapped_range(..)
            .map_err(|e| format!("read-back mapping: {e}"))?;
        let mut pixels = Vec::with_capacity((row * h) as usize);
        for y in 0..h as usize {
            let start = y * padded as usize;
            pixels.extend_from_slice(&view[start..start + row as usize]);
        }
        drop(view);
        buffer.unmap();
        image::RgbaImage::from_raw(w, h, pixels).ok_or_else(|| "read-back size mismatch".to_owned())
    }
}
