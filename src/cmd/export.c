/* export.c: `cpb export IMAGE -o FILE` — an image as one archive file.
 *
 * The OCI archive is what Apptainer users need (`apptainer build x.sif oci-archive:x.tar`)
 * on clusters without Podman; docker-archive is for `docker load`.  The file is written
 * under a temporary name and renamed at the end, so a failed export never leaves a
 * truncated archive that looks finished.
 */
#include "config.h"
#include "cmd.h"
#include "podman/podman.h"
#include "xalloc.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "Usage: cpb export [OPTIONS] IMAGE -o FILE\n"
    "\n"
    "Save IMAGE (a name cpb build gave, e.g. solver or localhost/solver:latest) as one\n"
    "archive file, for Apptainer (apptainer build x.sif oci-archive:FILE) or other hosts.\n"
    "\n"
    "  -o, --output FILE   the archive to write ('-' for stdout)\n"
    "  --format FORMAT     oci-archive (default) or docker-archive\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit codes: 0 saved, 1 failure, 2 bad usage or unknown image, 3 Podman unreachable.\n";

static int
parse_format (const char *s, enum cpb_podman_archive_format *ret)
{
  if (strcmp (s, "oci-archive") == 0 || strcmp (s, "oci") == 0)
    *ret = CPB_IMAGE_OCI_ARCHIVE;
  else if (strcmp (s, "docker-archive") == 0 || strcmp (s, "docker") == 0)
    *ret = CPB_IMAGE_DOCKER_ARCHIVE;
  else
    return -1;
  return 0;
}

/* Save into a temporary file next to OUTPUT, then rename it into place. */
static int
save_to_file (cpb_podman *p, const char *image, enum cpb_podman_archive_format format,
              const char *output, cpb_error **err)
{
  _cleanup_free_ char *tmp = cpb_xasprintf ("%s.XXXXXX", output);
  _cleanup_close_ int fd = mkostemp (tmp, O_CLOEXEC);

  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot create '%s'", tmp);
  fchmod (fd, 0644);
  if (cpb_podman_image_save (p, image, format, fd, err) < 0 || fsync (fd) < 0 ||
      close (TAKE_FD (fd)) < 0)
    {
      if (*err == NULL)
        cpb_error_errno (err, errno, "cannot write '%s'", output);
      unlink (tmp);
      return -1;
    }
  if (rename (tmp, output) < 0)
    {
      cpb_error_errno (err, errno, "cannot rename '%s' to '%s'", tmp, output);
      unlink (tmp);
      return -1;
    }
  return 0;
}

CPB_VERB (export)
{
  static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                        { "format", required_argument, NULL, 'F' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  enum cpb_podman_archive_format format = CPB_IMAGE_OCI_ARCHIVE;
  _cleanup_podman_ cpb_podman *p = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  const char *output = NULL, *image;
  bool exists = false;
  int c;

  /* 0, not 1: glibc then forgets the '+' (stop at the first operand) of main's option
     string, so options may follow operands: cpb export IMAGE -o FILE. */
  optind = 0;
  while ((c = getopt_long (argc, argv, "o:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'o':
        output = optarg;
        break;
      case 'F':
        if (parse_format (optarg, &format) < 0)
          return cpb_cli_usage_error (
              "export", "unknown format '%s' (oci-archive or docker-archive)", optarg);
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("export");
      }
  if (optind + 1 != argc)
    return cpb_cli_usage_error ("export",
                                optind >= argc ? "no image given" : "one image at a time");
  if (output == NULL)
    return cpb_cli_usage_error ("export", "no output file given (-o FILE)");
  if (strcmp (output, "-") == 0 && isatty (1))
    return cpb_cli_usage_error ("export", "refusing to write an archive to a terminal");
  image = argv[optind];
  if (cpb_cli_connect (g, &p, &err) < 0 || cpb_podman_image_exists (p, image, &exists, &err) < 0)
    return cpb_cli_report ("export", TAKE_PTR (err));
  if (!exists)
    {
      cpb_error_set (&err, CPB_ERR_INPUT, "no image '%s' (see cpb images)", image);
      return cpb_cli_report ("export", TAKE_PTR (err));
    }
  if (strcmp (output, "-") == 0 ? cpb_podman_image_save (p, image, format, 1, &err) < 0
                                : save_to_file (p, image, format, output, &err) < 0)
    {
      cpb_error_prefix (&err, "exporting '%s'", image);
      return cpb_cli_report ("export", TAKE_PTR (err));
    }
  return CPB_EXIT_OK;
}
