// Attachments in the built-in composer: which files the server takes (its composer
// options: accept, maxSize, maxCount) and uploading them by the server's upload strategy.
//
// two_phase: attachments.create (through chatFetch), then the bytes to the returned signed
// URL with XMLHttpRequest, whose upload events give real progress; the signed URL is the
// credential, so no token is needed. direct: one multipart POST to the upload URL through
// chatFetch (it needs the Bearer token); fetch reports no upload progress, so the composer
// shows an indeterminate bar.

import { gettext, interpolate } from "../i18n.js";
import { ChatRequestError, describeHttpError } from "./protocol.js";

/** The file input's `accept`: every MIME type and extension the server takes. */
export function acceptAttribute(options) {
  const accept = options?.accept ?? {};
  return Object.entries(accept)
    .flatMap(([mime, extensions]) => [mime, ...(extensions ?? [])])
    .join(",");
}

/** Why `file` cannot be attached next to `count` others, or "" when it can. */
export function refusal(file, options, count) {
  if (!options?.enabled) {
    return gettext("Attachments are turned off on this site.");
  }
  if (count >= options.maxCount) {
    return interpolate(gettext("“%(name)s” was not added: a message can carry at most %(count)s attachments."), {
      name: file.name,
      count: options.maxCount,
    });
  }
  if (options.maxSize && file.size > options.maxSize) {
    return interpolate(gettext("“%(name)s” is %(size)s; files can be at most %(max)s."), {
      name: file.name,
      size: formatBytes(file.size),
      max: formatBytes(options.maxSize),
    });
  }
  if (!acceptedType(file, options.accept ?? {})) {
    return interpolate(gettext("“%(name)s” is not a type that can be attached. Accepted: %(types)s."), {
      name: file.name,
      types: acceptedList(options),
    });
  }
  return "";
}

/** The accepted file types as a reader knows them: their extensions, else their MIME types. */
export function acceptedList(options) {
  const accept = options?.accept ?? {};
  const names = Object.entries(accept).flatMap(([mime, extensions]) => (extensions?.length ? extensions : [mime]));
  return [...new Set(names)].join(", ");
}

/**
 * The type the server takes `file` as, or "" when it takes no such file: the browser's
 * type when accepted, else the one its extension stands for. Browsers report many types
 * for text files (or none), so the extension decides, as on the server
 * (chat/attachments/policy.py normalise_type).
 */
function acceptedType(file, accept) {
  const mime = (file.type || "").toLowerCase();
  if (mime && Object.hasOwn(accept, mime)) {
    return mime;
  }
  const name = file.name.toLowerCase();
  const match = Object.entries(accept).find(([, extensions]) =>
    (extensions ?? []).some((extension) => name.endsWith(extension.toLowerCase())),
  );
  return match ? match[0] : "";
}

/** The MIME type to declare: the accepted one, else the browser's. */
export function declaredType(file, options) {
  const accepted = acceptedType(file, options?.accept ?? {});
  return accepted || (file.type || "").toLowerCase() || "application/octet-stream";
}

export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) {
    return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
  }
  if (bytes >= 1024) {
    return `${Math.round(bytes / 1024)} KB`;
  }
  return `${bytes} bytes`;
}

/**
 * Uploads for `protocol` under `strategy` ({type: "two_phase"} or {type: "direct",
 * uploadUrl}). Returns { upload(file, { onProgress, signal }), remove(attachmentId) }.
 * upload() resolves to the ChatKit attachment; onProgress(fraction) or onProgress(null)
 * when the progress cannot be known.
 */
export function createUploader({ protocol, strategy, options }) {
  async function upload(file, { onProgress = () => {}, signal } = {}) {
    const form = new FormData();
    form.append("file", file, file.name);
    if (strategy?.type === "direct") {
      onProgress(null);
      return protocol.upload(strategy.uploadUrl, form);
    }
    const created = await protocol.call("attachments.create", {
      name: file.name,
      size: file.size,
      mime_type: declaredType(file, options),
    });
    const descriptor = created.upload_descriptor;
    if (!descriptor?.url) {
      return created;
    }
    onProgress(0);
    return send(descriptor, form, onProgress, signal);
  }

  return {
    upload,
    remove(attachmentId) {
      return protocol.call("attachments.delete", { attachment_id: attachmentId });
    },
  };
}

function send(descriptor, form, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(descriptor.method || "POST", descriptor.url);
    for (const [name, value] of Object.entries(descriptor.headers ?? {})) {
      request.setRequestHeader(name, value);
    }
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        onProgress(event.loaded / event.total);
      }
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        onProgress(1);
        resolve(request.response);
        return;
      }
      const detail = typeof request.response?.detail === "string" ? request.response.detail : "";
      reject(new ChatRequestError(describeHttpError(request.status, detail), { status: request.status }));
    });
    request.addEventListener("error", () =>
      reject(new ChatRequestError(gettext("The file could not be uploaded: the site could not be reached."))),
    );
    request.addEventListener("abort", () => {
      const error = new Error("Upload cancelled");
      error.name = "AbortError";
      reject(error);
    });
    signal?.addEventListener("abort", () => request.abort(), { once: true });
    request.send(form);
  });
}
