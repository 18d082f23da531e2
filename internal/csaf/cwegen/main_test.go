package main

import (
	"strings"
	"testing"
)

const sample = `<?xml version="1.0" encoding="UTF-8"?>
<Weakness_Catalog Name="CWE" Version="4.15" Date="2024-07-16" xmlns="http://cwe.mitre.org/cwe-7">
 <Weaknesses>
  <Weakness ID="79" Name="Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')" Status="Stable">
   <Description>text <Weakness ID="1" Name="not an entry"/></Description>
  </Weakness>
  <Weakness ID="1188" Name="Initialization of a Resource with an Insecure Default"/>
 </Weaknesses>
 <Categories><Category ID="16" Name="Configuration"/></Categories>
 <Views><View ID="1000" Name="Research Concepts"/></Views>
</Weakness_Catalog>`

func TestGenerate(t *testing.T) {
	c, err := parseXML(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	former := "# comment\nCWE-1188\tInsecure Default Initialization of Resource\nCWE-79\tImproper Neutralization of Input During Web Page Generation ('Cross-site Scripting')\nCWE-1188\tInsecure Default Initialization of Resource\n"
	extra, err := parseFormer(former, c)
	if err != nil {
		t.Fatal(err)
	}
	c.entries = append(c.entries, extra...)
	var sb strings.Builder
	writeTSV(&sb, c)
	var body []string
	for _, l := range strings.Split(sb.String(), "\n") {
		if !strings.HasPrefix(l, "# ") && l != "" {
			body = append(body, l)
		}
	}
	want := []string{
		"#version\t4.15",
		"CWE-16\tcategory\tConfiguration",
		"CWE-79\tweakness\tImproper Neutralization of Input During Web Page Generation ('Cross-site Scripting')",
		"CWE-1000\tview\tResearch Concepts",
		"CWE-1188\tweakness\tInitialization of a Resource with an Insecure Default",
		"CWE-1188\tformer\tInsecure Default Initialization of Resource",
	}
	if strings.Join(body, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(body, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(sb.String(), "2 weaknesses, 1 former weakness names, 1 categories, 1 views") {
		t.Errorf("header: %s", sb.String())
	}
}

func TestBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"no id":       `<Weakness_Catalog Version="4.15"><Weakness Name="x"/></Weakness_Catalog>`,
		"not cwe":     `<html><body/></html>`,
		"broken xml":  `<Weakness_Catalog Version="4.15"><Weakness`,
		"no entries":  `<Weakness_Catalog Version="4.15"></Weakness_Catalog>`,
		"bad number":  `<Weakness_Catalog Version="4.15"><View ID="x" Name="y"/></Weakness_Catalog>`,
		"zero number": `<Weakness_Catalog Version="4.15"><View ID="0" Name="y"/></Weakness_Catalog>`,
	} {
		if _, err := parseXML(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	c, _ := parseXML(strings.NewReader(sample))
	if _, err := parseFormer("79\tname\n", c); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("former without CWE- prefix: %v", err)
	}
}

func FuzzParseXML(f *testing.F) {
	f.Add(sample)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := parseXML(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, e := range c.entries {
			if e.id <= 0 || e.name == "" {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
