/* doctor.c: `cpb doctor` checks this machine and says, per problem, what to run. */
#include "config.h"
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "doctor.h"
#include "json.h"

static const char usage[] =
    "Usage: cpb doctor [--json] [--local]\n"
    "\n"
    "Check that this machine can run cpb: podman and newuidmap installed, subordinate ids,\n"
    "cgroup version against the OCI runtime, /dev/net/tun, container ulimits, then the\n"
    "Podman service (reachable, API version, rootless, runtime, storage driver).  Each\n"
    "problem comes with the command that fixes it.\n"
    "\n"
    "  --json      print {\"ok\", \"reachable\", \"url\", \"checks\": [...]} for scripts\n"
    "  --local     check the host only, do not contact the service\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 all good, 1 problems found, 3 no Podman service answered.\n";

static void
print_text (const struct cpb_doctor *d, bool color)
{
  static const char *const colors[] = { "\033[32m", "\033[33m", "\033[31m", "\033[2m" };
  size_t problems = cpb_doctor_count (d, CPB_CHECK_PROBLEM);

  for (size_t i = 0; i < d->n; i++)
    {
      const struct cpb_check *c = &d->checks[i];

      printf ("%s%-8s%s %-9s %s\n", color ? colors[c->status] : "",
              cpb_check_status_name (c->status), color ? "\033[0m" : "", c->name,
              c->detail ? c->detail : "");
      if (c->advice)
        printf ("%-8s %-9s fix: %s\n", "", "", c->advice);
    }
  if (problems)
    printf ("\n%zu problem%s found\n", problems, problems == 1 ? "" : "s");
  else
    printf ("\nno problems found\n");
}

static int
print_json (const struct cpb_doctor *d)
{
  _cleanup_yajl_gen_ yajl_gen gen = cpb_json_gen_new ();
  _cleanup_free_ char *text = NULL;
  cpb_error *err = NULL;

  yajl_gen_map_open (gen);
  cpb_json_gen_key_bool (gen, "ok", cpb_doctor_count (d, CPB_CHECK_PROBLEM) == 0);
  cpb_json_gen_key_bool (gen, "reachable", d->reachable);
  cpb_json_gen_key_string (gen, "url", d->url);
  cpb_json_gen_key (gen, "checks");
  yajl_gen_array_open (gen);
  for (size_t i = 0; i < d->n; i++)
    {
      yajl_gen_map_open (gen);
      cpb_json_gen_key_string (gen, "name", d->checks[i].name);
      cpb_json_gen_key_string (gen, "status", cpb_check_status_name (d->checks[i].status));
      cpb_json_gen_key_string (gen, "detail", d->checks[i].detail);
      cpb_json_gen_key_string (gen, "advice", d->checks[i].advice);
      yajl_gen_map_close (gen);
    }
  yajl_gen_array_close (gen);
  yajl_gen_map_close (gen);
  text = cpb_json_gen_finish (gen, NULL, &err);
  if (text == NULL)
    return cpb_cli_report ("doctor", err);
  puts (text);
  return CPB_EXIT_OK;
}

CPB_VERB (doctor)
{
  static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                        { "local", no_argument, NULL, 'l' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  _cleanup_doctor_ struct cpb_doctor d = CPB_DOCTOR_INIT;
  bool json = false, local = false;
  int c, rc;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'l':
        local = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("doctor");
      }
  if (optind < argc)
    return cpb_cli_usage_error ("doctor", "unexpected argument '%s'", argv[optind]);

  cpb_doctor_local (&d);
  if (!local)
    cpb_doctor_service (&d, g->url);
  rc = json ? print_json (&d) : (print_text (&d, g->color), CPB_EXIT_OK);
  if (rc != CPB_EXIT_OK)
    return rc;
  if (!local && !d.reachable)
    return CPB_EXIT_UNREACHABLE;
  return cpb_doctor_count (&d, CPB_CHECK_PROBLEM) ? CPB_EXIT_FAILURE : CPB_EXIT_OK;
}
