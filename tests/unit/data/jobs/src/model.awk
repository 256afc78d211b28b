BEGIN { print "x" }
