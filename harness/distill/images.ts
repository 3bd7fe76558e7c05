import { readdir } from "node:fs/promises";
import { extname, isAbsolute, join } from "node:path";
import sharp from "sharp";
import { BoundedReadError, readRegularFileCapped, readResponseCapped } from "../util/bounded.ts";
import { errorMessage } from "../util/errors.ts";

export type ImageMime = "image/png" | "image/jpeg" | "image/webp" | "image/gif";

/** An image ready to send: encoded bytes in a format every vision server accepts, and its size. */
export interface LoadedImage {
  bytes: Buffer;
  mime: ImageMime;
  width: number;
  height: number;
}

/** Why a record's image cannot be used: the record is skipped with this reason, never the run. */
export class ImageProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageProblem";
  }
}

export interface ImageOptions {
  /** Base folder for relative image paths. */
  imagesDir: string;
  maxBytes: number;
  /** Seconds to wait for an http(s) image. */
  fetchTimeoutMs?: number;
}

/** The height of the black bar between the two products of a stacked image, as in the original. */
export const STACK_GAP_PX = 20;

/**
 * The fill of LLaVA's "pad" preprocessing (expand2square): CLIP's image_mean x 255, truncated. The
 * original scripts run with --image-aspect-ratio pad, so this is what their model saw around an image.
 */
export const PAD_COLOUR = { r: 122, g: 116, b: 104 } as const;

/** File names taken as images in a product's image folder (case-insensitive). */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"] as const;

const PASS_THROUGH: Record<string, ImageMime> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif" };

export function isUrl(ref: string): boolean {
  return /^https?:\/\//i.test(ref);
}

export function resolveImagePath(ref: string, imagesDir: string): string {
  return isUrl(ref) || isAbsolute(ref) ? ref : join(imagesDir, ref);
}

/** A reference ending in "/" names a folder holding the product's image(s): FolkScope's <--images>/<id>/. */
export function isFolderRef(ref: string): boolean {
  return !isUrl(ref) && ref.endsWith("/");
}

/**
 * The image of a product folder: the first image file in code-point name order. The original takes
 * os.listdir()[0], whose order the filesystem decides (not reproducible), after checking the folder
 * holds a .jpg; with one image per folder, the usual case, both take the same file.
 */
export async function firstImageInFolder(dir: string): Promise<string> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImageProblem(
      code === "ENOENT" ? `image folder ${dir}: not found` : `image folder ${dir}: cannot read (${errorMessage(error)})`,
    );
  }
  const images = names.filter((name) => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase())).sort();
  if (images.length === 0) throw new ImageProblem(`image folder ${dir}: no image file in it`);
  return join(dir, images[0]!);
}

async function readSource(ref: string, options: ImageOptions): Promise<Buffer> {
  const limit = `--max-image-bytes ${options.maxBytes}`;
  if (isUrl(ref)) {
    let response: Response;
    try {
      response = await fetch(ref, { signal: AbortSignal.timeout(options.fetchTimeoutMs ?? 60_000) });
    } catch (error) {
      throw new ImageProblem(`image ${ref}: download failed (${errorMessage(error)})`);
    }
    if (!response.ok) throw new ImageProblem(`image ${ref}: download failed (HTTP ${response.status})`);
    try {
      // Read with a ceiling: a body that never ends (or lies about its length) stops at the cap.
      return await readResponseCapped(response, options.maxBytes, `image ${ref}`);
    } catch (error) {
      if (error instanceof BoundedReadError) throw new ImageProblem(`image ${ref}: ${error.bytes ?? "more"} bytes is over ${limit}`);
      throw new ImageProblem(`image ${ref}: download failed (${errorMessage(error)})`);
    }
  }
  const path = resolveImagePath(ref, options.imagesDir);
  try {
    // A regular file under the cap only: a FIFO, /dev/zero or a device would otherwise be read forever.
    return await readRegularFileCapped(path, options.maxBytes);
  } catch (error) {
    if (error instanceof BoundedReadError)
      throw new ImageProblem(
        error.reason === "not-a-file"
          ? `image ${path}: not a regular file (a device, FIFO or socket); expected an image file`
          : `image ${path}: ${error.bytes ?? "more"} bytes is over ${limit}`,
      );
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImageProblem(code === "ENOENT" ? `image ${path}: file not found` : `image ${path}: cannot read (${errorMessage(error)})`);
  }
}

/**
 * Reads and fully decodes an image (a truncated or corrupt file is caught here, not by the server).
 * PNG, JPEG, WebP and GIF are sent as they are; other formats sharp reads (TIFF, AVIF, ...) become PNG.
 */
export async function loadImage(ref: string, options: ImageOptions): Promise<LoadedImage> {
  if (ref.trim() === "") throw new ImageProblem("the record has no image");
  if (isFolderRef(ref)) ref = await firstImageInFolder(resolveImagePath(ref.replace(/\/+$/, ""), options.imagesDir));
  const bytes = await readSource(ref, options);
  const where = isUrl(ref) ? ref : resolveImagePath(ref, options.imagesDir);
  try {
    const { info } = await sharp(bytes, { failOn: "error" }).raw().toBuffer({ resolveWithObject: true });
    const format = (await sharp(bytes).metadata()).format;
    const mime = format ? PASS_THROUGH[format] : undefined;
    if (mime) return { bytes, mime, width: info.width, height: info.height };
    const png = await sharp(bytes).png().toBuffer();
    return { bytes: png, mime: "image/png", width: info.width, height: info.height };
  } catch (error) {
    throw new ImageProblem(`image ${where}: not a readable image (${errorMessage(error)})`);
  }
}

export function toDataUrl(image: LoadedImage): string {
  return `data:${image.mime};base64,${image.bytes.toString("base64")}`;
}

const rgbPng = (image: LoadedImage) => sharp(image.bytes).removeAlpha().toColourspace("srgb").png().toBuffer();

/**
 * The original's pair image (concatenate_images): product A at (0, 0), a 20-pixel black bar, product
 * B at (0, height_A + 20), both left-aligned on a black canvas as wide as the wider image, as one PNG.
 * Alpha is dropped, as PIL's convert("RGB") does.
 */
export async function stackImages(top: LoadedImage, bottom: LoadedImage): Promise<LoadedImage> {
  const width = Math.max(top.width, bottom.width);
  const height = top.height + STACK_GAP_PX + bottom.height;
  const bytes = await sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([
      { input: await rgbPng(top), left: 0, top: 0 },
      { input: await rgbPng(bottom), left: 0, top: top.height + STACK_GAP_PX },
    ])
    .removeAlpha()
    .png()
    .toBuffer();
  return { bytes, mime: "image/png", width, height };
}

/**
 * LLaVA's expand2square: a square whose side is the longer side, filled with PAD_COLOUR, the image
 * centred along the longer axis (offset (long - short) // 2). A square image is returned as it is.
 */
export async function padToSquare(image: LoadedImage): Promise<LoadedImage> {
  if (image.width === image.height) return image;
  const side = Math.max(image.width, image.height);
  const bytes = await sharp({ create: { width: side, height: side, channels: 3, background: PAD_COLOUR } })
    .composite([{ input: await rgbPng(image), left: Math.floor((side - image.width) / 2), top: Math.floor((side - image.height) / 2) }])
    .removeAlpha()
    .png()
    .toBuffer();
  return { bytes, mime: "image/png", width: side, height: side };
}
